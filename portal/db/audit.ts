/**
 * The audit log: who changed what, when. Written in the same transaction as the change, so a
 * change that is rolled back leaves no entry and an entry never lacks its change.
 */
import type { Knex } from 'knex';

export async function audit(tx: Knex | Knex.Transaction, actor: string, action: string, target: string | null, detail?: unknown): Promise<void> {
  await tx('audit').insert({ at_ms: Date.now(), actor, action, target, detail: detail === undefined ? null : JSON.stringify(detail) });
}

/** One changed field in an audit entry: what it was and what it became. */
export interface FieldChange {
  from: unknown;
  to: unknown;
}

/**
 * The fields of `after` that differ from `before`, each as { from, to }: an update's audit
 * entry says what the value was, not only what it became (an admin asking "who moved pc-7 out
 * of Room 101?" needs the old room). Fields that did not change are left out.
 */
export function changes<T extends object>(before: Partial<T>, after: Partial<T>): Record<string, FieldChange> {
  const out: Record<string, FieldChange> = {};
  for (const [k, to] of Object.entries(after)) {
    if (to === undefined) continue;
    const from = (before as Record<string, unknown>)[k] ?? null;
    if (JSON.stringify(from) !== JSON.stringify(to)) out[k] = { from, to };
  }
  return out;
}

const isChange = (v: unknown): v is FieldChange =>
  typeof v === 'object' && v !== null && !Array.isArray(v) && Object.keys(v).length === 2 && 'from' in v && 'to' in v;

const shown = (v: unknown): string => (v === null || v === undefined || v === '' ? '(none)' : typeof v === 'string' ? v : JSON.stringify(v));

/**
 * An entry's detail in words, as the audit page and its CSV show it: "role: image-admin →
 * readonly; password: changed". Entries written before updates kept the old value (their fields
 * hold only the new one) read as "role: readonly".
 */
export function describeDetail(detail: unknown): string {
  if (detail === null || detail === undefined) return '';
  if (typeof detail !== 'object' || Array.isArray(detail)) return shown(detail);
  return Object.entries(detail)
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => (isChange(v) ? `${k}: ${shown(v.from)} → ${shown(v.to)}` : `${k}: ${shown(v)}`))
    .join('; ');
}
