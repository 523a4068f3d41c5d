/**
 * An image's versions come from one count, whatever makes them: a capture task, an import, a pull.
 * A version is assigned when its task or job is made, so no two of them ever publish the same one.
 */
import type { Knex } from 'knex';
import { takeAssignLock } from '../db/assign-lock.js';

/**
 * The next version of `name` that no published image, capture task or node job holds. Takes the
 * assign lock first: the caller inserts the row holding it in the same transaction.
 */
export async function nextImageVersion(tx: Knex.Transaction, name: string): Promise<number> {
  await takeAssignLock(tx);
  const [published, captured, jobs] = await Promise.all([
    tx('images').where({ name }).max({ v: 'version' }).first(),
    tx('tasks').where({ kind: 'capture', image_name: name }).max({ v: 'image_version' }).first(),
    tx('node_jobs').where({ image_name: name }).max({ v: 'image_version' }).first(),
  ]);
  return Math.max(Number(published?.v ?? 0), Number(captured?.v ?? 0), Number(jobs?.v ?? 0)) + 1;
}
