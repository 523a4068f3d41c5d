/** Migration 001-swarm */
import type { Knex } from 'knex';
import type { Migration } from './migration.js';

export default {
  async up(k: Knex) {
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
  async down(k: Knex) {
    for (const t of ['task_hosts', 'tasks', 'hosts', 'node_images', 'images', 'nodes']) await k.schema.dropTableIfExists(t);
  },
} satisfies Migration;
