/** A PC proves who it is with the key the portal gave it for its task (and only for that task). */
import { timingSafeEqual } from 'node:crypto';
import type { Knex } from 'knex';
import type { Context } from 'koa';
import { HttpError } from '../../shared/http/errors.js';
import { bearer } from '../../shared/http/server.js';
import { keyOwner } from './access-store.js';

export const sameSecret = (given: string | undefined, want: string): boolean => {
  const a = Buffer.from(given ?? '');
  const b = Buffer.from(want);
  return a.length === b.length && timingSafeEqual(a, b);
};

/** Throws unless the request carries this task's key for this host. */
export function requireHostKey(ctx: Context, row: { key: string } | undefined, mac: string, taskId: number): void {
  if (!row) throw new HttpError(404, `host ${mac} is not in task ${taskId}`);
  if (!sameSecret(bearer(ctx), row.key)) throw new HttpError(403, `this needs the key the portal gave host ${mac} for task ${taskId}`);
}

/**
 * A PC booted by Shoal presents the key from its kernel command line: it must be the key of this
 * MAC's pending task. A key of another PC, or of a task that has ended, is refused, so a key read
 * off one PC's screen or boot log neither fetches another PC's task nor outlives its own. (A PC
 * started by hand, without a key, is matched by its MAC alone, as before.)
 */
export async function checkBootKey(db: Knex, ctx: Context, mac: string, pending: { key: string } | undefined): Promise<void> {
  const key = bearer(ctx);
  if (!key || (pending && sameSecret(key, pending.key))) return;
  const owner = await keyOwner(db, key);
  if (owner && owner.mac !== mac) throw new HttpError(403, `this key was issued to another PC, not ${mac}`);
  if (owner) throw new HttpError(403, `the key of ${mac} belongs to task ${owner.task_id}, which has ended for it (${owner.state})`);
  throw new HttpError(403, `this key is not one the portal issued to ${mac}`);
}
