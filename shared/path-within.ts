/** Whether `path` is `root` or lies under it, both absolute and already resolved (no links followed here). */
import { isAbsolute, relative, sep } from 'node:path';

export function pathWithin(path: string, root: string): boolean {
  const r = relative(root, path);
  return r === '' || (!r.startsWith(`..${sep}`) && r !== '..' && !isAbsolute(r));
}
