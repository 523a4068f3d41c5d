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

type ColumnMaker = (t: Knex.AlterTableBuilder, name: string) => unknown;

/**
 * A migration that only adds columns: `up` adds each (table by table, in order), `down` drops
 * them again. Most of the portal's schema steps are this; writing them as data keeps each file to
 * what it adds and why.
 */
export const addColumns = (tables: Record<string, Record<string, ColumnMaker>>): Migration => ({
  async up(k) {
    for (const [table, columns] of Object.entries(tables))
      await k.schema.alterTable(table, (t) => {
        for (const [name, make] of Object.entries(columns)) make(t, name);
      });
  },
  async down(k) {
    for (const [table, columns] of Object.entries(tables).reverse())
      await k.schema.alterTable(table, (t) => {
        for (const name of Object.keys(columns)) t.dropColumn(name);
      });
  },
});
