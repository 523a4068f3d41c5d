/**
 * The audit log: who changed what, when. Written in the same transaction as the change, so a
 * change that is rolled back leaves no entry and an entry never lacks its change.
 */
import type { Knex } from 'knex';

export async function audit(tx: Knex | Knex.Transaction, actor: string, action: string, target: string | null, detail?: unknown): Promise<void> {
  await tx('audit').insert({ at_ms: Date.now(), actor, action, target, detail: detail === undefined ? null : JSON.stringify(detail) });
}
