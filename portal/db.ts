/**
 * The portal's database, the only one in Shoal: knex on SQLite by default (one file in the data
 * directory, nothing to install), PostgreSQL when given a connection URL. The schema is built by
 * knex migrations kept here in order; each runs once per database.
 */
import knex, { type Knex } from 'knex';

export type Db = Knex;

const migrations: Record<string, { up(k: Knex): Promise<void>; down(k: Knex): Promise<void> }> = {
  '001-swarm': {
    async up(k) {
      await k.schema.createTable('nodes', (t) => {
        t.string('name').primary();
        t.string('http_url').notNullable();
        t.string('bt_addr').notNullable();
        t.bigInteger('last_seen_ms').notNullable();
      });
      await k.schema.createTable('images', (t) => {
        t.string('info_hash', 40).primary();
        t.string('name').notNullable();
        t.integer('version').notNullable();
        t.text('manifest').notNullable();
        t.binary('torrent').notNullable();
        t.bigInteger('created_ms').notNullable();
        t.unique(['name', 'version']);
      });
      await k.schema.createTable('node_images', (t) => {
        t.string('node').notNullable().references('nodes.name').onDelete('CASCADE');
        t.string('info_hash', 40).notNullable().references('images.info_hash').onDelete('CASCADE');
        t.primary(['node', 'info_hash']);
      });
      await k.schema.createTable('hosts', (t) => {
        t.string('mac', 17).primary();
        t.string('ip');
        t.bigInteger('last_seen_ms');
      });
      await k.schema.createTable('tasks', (t) => {
        t.increments('id');
        t.string('kind').notNullable();
        t.string('info_hash', 40).references('images.info_hash');
        t.string('state').notNullable();
        t.integer('linger_seconds').notNullable();
        t.bigInteger('created_ms').notNullable();
      });
      await k.schema.createTable('task_hosts', (t) => {
        t.integer('task_id').notNullable().references('tasks.id').onDelete('CASCADE');
        t.string('mac', 17).notNullable().references('hosts.mac');
        t.string('key').notNullable();
        t.bigInteger('key_expires_ms').notNullable();
        t.string('state').notNullable();
        t.text('progress');
        t.bigInteger('updated_ms');
        t.primary(['task_id', 'mac']);
      });
    },
    async down(k) {
      for (const t of ['task_hosts', 'tasks', 'hosts', 'node_images', 'images', 'nodes']) await k.schema.dropTableIfExists(t);
    },
  },
  '002-capture-tasks': {
    async up(k) {
      await k.schema.alterTable('tasks', (t) => {
        t.string('image_name');
        t.string('image_type');
        t.string('node');
      });
    },
    async down(k) {
      await k.schema.alterTable('tasks', (t) => {
        t.dropColumn('image_name');
        t.dropColumn('image_type');
        t.dropColumn('node');
      });
    },
  },
  '003-capture-version': {
    async up(k) {
      await k.schema.alterTable('tasks', (t) => t.integer('image_version'));
    },
    async down(k) {
      await k.schema.alterTable('tasks', (t) => t.dropColumn('image_version'));
    },
  },
};

export async function openDb(database: string): Promise<Db> {
  const db = /^postgres(ql)?:\/\//.test(database)
    ? knex({ client: 'pg', connection: database })
    : knex({ client: 'sqlite3', connection: { filename: database }, useNullAsDefault: true, pool: { afterCreate: (c: any, done: any) => c.run('PRAGMA foreign_keys = ON', done) } });
  await db.migrate.latest({
    migrationSource: {
      getMigrations: async () => Object.keys(migrations).sort(),
      getMigrationName: (m: string) => m,
      getMigration: async (m: string) => migrations[m]!,
    },
  });
  return db;
}
