import type { Knex } from 'knex';

/**
 * One step of the schema: `up` builds it, `down` takes it back. A migration runs against the
 * schema as it was then, not as db/tables.ts describes it now: `untyped` reads its rows so.
 */
export const untyped = (k: Knex, table: string): Knex.QueryBuilder => k(table as never) as unknown as Knex.QueryBuilder;

export interface Migration {
  up(k: Knex): Promise<void>;
  down(k: Knex): Promise<void>;
}
