/**
 * The portal's database, the only one in Shoal: knex on SQLite by default (one file in the data
 * directory, nothing to install), PostgreSQL when given a connection URL. The schema is built by
 * knex migrations, one file each in migrations/, run in order; each runs once per database.
 */
import knex, { type Knex } from 'knex';
import pg from 'pg';
import { MIGRATIONS } from './migrations/index.js';

export type Db = Knex;

/** The id of a row just inserted: PostgreSQL's `returning` gives an object, SQLite's a number. */
export const insertedId = (row: unknown): number => (typeof row === 'object' ? (row as { id: number }).id : (row as number));

// PostgreSQL's bigint (times in ms, byte counts, count(*)) comes back as a string by default, to be
// safe past 2^53; none of Shoal's comes near that, and SQLite answers numbers: read both as numbers.
pg.types.setTypeParser(pg.types.builtins.INT8, (v: string) => Number(v));

/** The migrations in migrations/, in the order of their names. */
export const migrationSource: Knex.MigrationSource<string> = {
  getMigrations: async () => Object.keys(MIGRATIONS).sort(),
  getMigrationName: (m: string) => m,
  getMigration: async (m: string) => MIGRATIONS[m]!,
};

export async function openDb(database: string): Promise<Db> {
  const db = /^postgres(ql)?:\/\//.test(database)
    ? knex({ client: 'pg', connection: database })
    : knex({
        client: 'sqlite3',
        connection: { filename: database },
        useNullAsDefault: true,
        // WAL: dashboards read while 200 PCs' progress is written, and a commit costs no fsync of the
        // main file (synchronous=NORMAL is safe with WAL: a crash loses at most the last commits).
        pool: {
          afterCreate: (c: { exec(sql: string, done: (err: Error | null) => void): void }, done: (err: Error | null) => void) =>
            c.exec('PRAGMA foreign_keys = ON; PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA busy_timeout = 5000;', done),
        },
      });
  await db.migrate.latest({ migrationSource });
  return db;
}
