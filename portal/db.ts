/**
 * The portal's database, the only one in Shoal: knex on SQLite by default (one file in the data
 * directory, nothing to install), PostgreSQL when given a connection URL. The schema is built by
 * knex migrations kept here in order; each runs once per database.
 */
import knex, { type Knex } from 'knex';
import { imageSizes } from './image-sizes.js';

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
  // Issue 4: what an admin keeps in the portal. New columns carry no foreign keys where SQLite
  // would have to rebuild a table to add one; the routes check them inside their transactions.
  '004-portal': {
    async up(k) {
      await k.schema.createTable('groups', (t) => {
        t.string('name').primary();
        t.text('description');
        t.bigInteger('created_ms').notNullable();
      });
      await k.schema.createTable('storage_groups', (t) => {
        t.string('name').primary();
        t.text('description');
        t.bigInteger('created_ms').notNullable();
      });
      await k.schema.createTable('image_info', (t) => {
        t.string('name').primary();
        t.string('alias');
        t.text('description');
        t.string('os_type');
        t.string('image_type').notNullable();
        t.string('owner');
        t.string('access').notNullable();
        t.string('status').notNullable();
        t.text('tags').notNullable();
        t.bigInteger('created_ms').notNullable();
      });
      await k.schema.createTable('users', (t) => {
        t.string('name').primary();
        t.string('password_hash').notNullable();
        t.string('role').notNullable();
        t.bigInteger('created_ms').notNullable();
      });
      await k.schema.createTable('sessions', (t) => {
        t.string('id_hash', 64).primary();
        t.string('user_name').notNullable().references('users.name').onDelete('CASCADE');
        t.bigInteger('expires_ms').notNullable();
      });
      await k.schema.createTable('api_tokens', (t) => {
        t.increments('id');
        t.string('user_name').notNullable().references('users.name').onDelete('CASCADE');
        t.string('label').notNullable();
        t.string('token_hash', 64).notNullable().unique();
        t.bigInteger('created_ms').notNullable();
        t.bigInteger('last_used_ms');
      });
      await k.schema.createTable('audit', (t) => {
        t.increments('id');
        t.bigInteger('at_ms').notNullable();
        t.string('actor').notNullable();
        t.string('action').notNullable();
        t.string('target');
        t.text('detail');
        t.index(['at_ms']);
      });
      await k.schema.createTable('task_host_log', (t) => {
        t.increments('id');
        t.integer('task_id').notNullable();
        t.string('mac', 17).notNullable();
        t.bigInteger('at_ms').notNullable();
        t.text('message').notNullable();
        t.index(['task_id', 'mac']);
      });
      await k.schema.alterTable('hosts', (t) => {
        t.string('name');
        t.string('disk');
        t.string('group_name');
        t.string('image_name');
        t.text('inventory');
        t.bigInteger('created_ms');
      });
      await k.schema.alterTable('images', (t) => {
        t.bigInteger('size_bytes');
        t.bigInteger('min_disk_bytes');
      });
      await k.schema.alterTable('nodes', (t) => {
        t.string('storage_group');
        t.bigInteger('capacity_bytes');
        t.bigInteger('free_bytes');
        t.bigInteger('upload_limit');
      });
      await k.schema.alterTable('tasks', (t) => {
        t.string('group_name');
        t.bigInteger('scheduled_ms');
        t.string('created_by');
        t.integer('min_receivers');
        t.integer('max_wait_seconds');
      });
      await k.schema.alterTable('task_hosts', (t) => t.text('error'));
      await k.schema.alterTable('hosts', (t) => t.unique(['name']));
      await k('task_hosts').where({ state: 'pending' }).update({ state: 'queued' });
      await k('hosts').whereNull('created_ms').update({ created_ms: Date.now() });
      // Images published before this migration: one catalog entry per name, sizes from manifests.
      const rows = await k('images').select('info_hash', 'name', 'manifest', 'created_ms');
      for (const r of rows) {
        const sizes = imageSizes(r.manifest);
        await k('images').where({ info_hash: r.info_hash }).update({ size_bytes: sizes.sizeBytes, min_disk_bytes: sizes.minDiskBytes });
        await k('image_info')
          .insert({
            name: r.name,
            image_type: sizes.imageType,
            access: 'public',
            status: 'ok',
            tags: '[]',
            created_ms: Number(r.created_ms),
          })
          .onConflict('name')
          .ignore();
      }
    },
    async down(k) {
      for (const t of ['task_host_log', 'audit', 'api_tokens', 'sessions', 'users', 'image_info', 'storage_groups', 'groups'])
        await k.schema.dropTableIfExists(t);
    },
  },
  // Which storage node each PC's ticket named first for unicast: the portal's measure of a node's load.
  '005-unicast-node': {
    async up(k) {
      await k.schema.alterTable('task_hosts', (t) => t.string('unicast_node'));
    },
    async down(k) {
      await k.schema.alterTable('task_hosts', (t) => t.dropColumn('unicast_node'));
    },
  },
  '006-boot-finish': {
    async up(k) {
      await k.schema.alterTable('tasks', (t) => t.string('finish').notNullable().defaultTo('reboot'));
    },
    async down(k) {
      await k.schema.alterTable('tasks', (t) => t.dropColumn('finish'));
    },
  },
  // A swarm deploy that starts together: when its first PC was ready, and when the group started.
  '007-start-together': {
    async up(k) {
      await k.schema.alterTable('tasks', (t) => {
        t.bigInteger('first_ready_ms');
        t.bigInteger('started_ms');
      });
    },
    async down(k) {
      await k.schema.alterTable('tasks', (t) => {
        t.dropColumn('first_ready_ms');
        t.dropColumn('started_ms');
      });
    },
  },
  // Per-host identity after a deploy (hostname, machine-id, Windows computer name) unless the image
  // turns it off (an image whose systems name themselves, or a kiosk image meant to be identical).
  '008-host-identity': {
    async up(k) {
      await k.schema.alterTable('image_info', (t) => t.boolean('set_identity').notNullable().defaultTo(true));
    },
    async down(k) {
      await k.schema.alterTable('image_info', (t) => t.dropColumn('set_identity'));
    },
  },
  // Wake-on-LAN when a task starts (null: no wake), and recurring schedules that make tasks.
  '009-wake-schedules': {
    async up(k) {
      await k.schema.alterTable('tasks', (t) => {
        t.float('wake_per_second');
        t.integer('schedule_id');
      });
      await k.schema.createTable('schedules', (t) => {
        t.increments('id');
        t.string('name').notNullable().unique();
        t.string('cron').notNullable();
        t.text('task').notNullable();
        t.boolean('enabled').notNullable().defaultTo(true);
        t.bigInteger('next_run_ms');
        t.bigInteger('last_run_ms');
        t.integer('last_task_id');
        t.text('last_error');
        t.string('created_by').notNullable();
        t.bigInteger('created_ms').notNullable();
      });
    },
    async down(k) {
      await k.schema.dropTableIfExists('schedules');
      await k.schema.alterTable('tasks', (t) => {
        t.dropColumn('wake_per_second');
        t.dropColumn('schedule_id');
      });
    },
  },
  // API tokens expire, and a revoked one stays revoked (the admin-token file is not taken again at start).
  '011-token-expiry': {
    async up(k) {
      await k.schema.alterTable('api_tokens', (t) => {
        t.bigInteger('expires_ms');
        t.bigInteger('revoked_ms');
      });
    },
    async down(k) {
      await k.schema.alterTable('api_tokens', (t) => {
        t.dropColumn('expires_ms');
        t.dropColumn('revoked_ms');
      });
    },
  },
  // Enrolment: a MAC that registered itself waits for approval; a group may have a registration secret.
  '012-enrolment': {
    async up(k) {
      await k.schema.alterTable('hosts', (t) => t.boolean('pending').notNullable().defaultTo(false));
      await k.schema.alterTable('groups', (t) => t.string('secret_hash', 64));
    },
    async down(k) {
      await k.schema.alterTable('hosts', (t) => t.dropColumn('pending'));
      await k.schema.alterTable('groups', (t) => t.dropColumn('secret_hash'));
    },
  },
  // A version captured over the network waits for an admin's review, unless its task said publish.
  '013-capture-review': {
    async up(k) {
      await k.schema.alterTable('images', (t) => t.bigInteger('review_since_ms'));
      await k.schema.alterTable('tasks', (t) => t.boolean('publish').notNullable().defaultTo(false));
    },
    async down(k) {
      await k.schema.alterTable('images', (t) => t.dropColumn('review_since_ms'));
      await k.schema.alterTable('tasks', (t) => t.dropColumn('publish'));
    },
  },
  // When a host proved it holds the image (portal/proof.ts): only then are its seeding and done believed.
  '014-proof': {
    async up(k) {
      await k.schema.alterTable('task_hosts', (t) => t.bigInteger('proven_ms'));
    },
    async down(k) {
      await k.schema.alterTable('task_hosts', (t) => t.dropColumn('proven_ms'));
    },
  },
  // The address a host's task key was handed to: the key goes out once, to that address.
  '010-key-address': {
    async up(k) {
      await k.schema.alterTable('task_hosts', (t) => t.string('key_ip', 64));
    },
    async down(k) {
      await k.schema.alterTable('task_hosts', (t) => t.dropColumn('key_ip'));
    },
  },
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
          afterCreate: (c: any, done: any) =>
            c.exec('PRAGMA foreign_keys = ON; PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA busy_timeout = 5000;', done),
        },
      });
  await db.migrate.latest({
    migrationSource: {
      getMigrations: async () => Object.keys(migrations).sort(),
      getMigrationName: (m: string) => m,
      getMigration: async (m: string) => migrations[m]!,
    },
  });
  return db;
}
