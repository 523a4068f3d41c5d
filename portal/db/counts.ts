/**
 * How many rows hold each value of a column: the catalog's "hosts per image", "nodes per storage
 * group" and the like, in one grouped query rather than one count per value.
 */
import type { Knex } from 'knex';
import type { Db } from './open.js';

/** Counts of `table`'s rows by their `column` (rows where it is null left out), optionally narrowed by `where`. */
export async function countsBy(db: Db | Knex.Transaction, table: string, column: string, where: Record<string, unknown> = {}): Promise<Map<string, number>> {
  const rows = await db
    .table(table)
    .where(where)
    .whereNotNull(column)
    .groupBy(column)
    .select({ key: column })
    .count<Array<{ key: string; n: number | string }>>({ n: '*' });
  return new Map(rows.map((r) => [r.key, Number(r.n)]));
}
