/** A PC proves who it is with the key the portal gave it for its task (and only for that task). */
import { timingSafeEqual } from 'node:crypto';
import type { Knex } from 'knex';
import type { Context } from 'koa';
import { HttpError } from '../shared/http-errors.js';
import { bearer } from '../shared/http-server.js';

export const sameSecret = (given: string | undefined, want: string): boolean => {
  const a = Buffer.from(given ?? '');
  const b = Buffer.from(want);
  return a.length === b.length && timingSafeEqual(a, b);
};

/** Whether the request carries the key of one of this host's tasks that is not over. */
export async function hostKeyMatches(db: Knex, ctx: Context, mac: string): Promise<boolean> {
  const given = bearer(ctx);
  if (!given) return false;
  const keys = await db('task_hosts').join('tasks', 'tasks.id', 'task_hosts.task_id').where('task_hosts.mac', mac).whereIn('tasks.state', ['active', 'scheduled']).select('task_hosts.key');
  return keys.some((k: { key: string }) => sameSecret(given, k.key));
}

/** Throws unless the request carries this task's key for this host. */
export function requireHostKey(ctx: Context, row: { key: string } | undefined, mac: string, taskId: number): void {
  if (!row) throw new HttpError(404, `host ${mac} is not in task ${taskId}`);
  if (!sameSecret(bearer(ctx), row.key)) throw new HttpError(403, `this needs the key the portal gave host ${mac} for task ${taskId}`);
}
