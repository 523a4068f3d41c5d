import type { Role, User } from './types';

/** Who is logged in; null shows the login page (a 401 from any call sets it back to null). */
export const session = $state<{ user: User | null }>({ user: null });

// The contract's "change:" rule per resource. The server enforces it; the UI only hides
// what would be refused.
const CHANGERS: Record<'hosts' | 'groups' | 'storage' | 'users' | 'images' | 'tasks', Role[]> = {
  hosts: ['admin'],
  groups: ['admin'],
  storage: ['admin'],
  users: ['admin'],
  images: ['admin', 'image-admin'],
  tasks: ['admin', 'image-admin'],
};

export function mayChange(what: keyof typeof CHANGERS): boolean {
  return session.user !== null && CHANGERS[what].includes(session.user.role);
}
