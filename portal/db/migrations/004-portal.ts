/** Migration 004-portal: Issue 4: what an admin keeps in the portal. New columns carry no foreign keys where SQLite would have to rebuild a table to add one; the routes check them inside their transactions. */
import type { Knex } from 'knex';
import { untyped, type Migration } from './migration.js';
import { imageSizes } from '../../../shared/image/image-sizes.js';

export default {
  async up(k: Knex) {
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
    await untyped(k, 'task_hosts').where({ state: 'pending' }).update({ state: 'queued' });
    await k('hosts').whereNull('created_ms').update({ created_ms: Date.now() });
    // Images published before this migration: one catalog entry per name, sizes from manifests.
    const rows = await untyped(k, 'images').select<Array<{ info_hash: string; name: string; manifest: string; created_ms: number | string }>>(
      'info_hash',
      'name',
      'manifest',
      'created_ms',
    );
    for (const r of rows) {
      const sizes = imageSizes(r.manifest);
      await untyped(k, 'images').where({ info_hash: r.info_hash }).update({ size_bytes: sizes.sizeBytes, min_disk_bytes: sizes.minDiskBytes });
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
  async down(k: Knex) {
    for (const t of ['task_host_log', 'audit', 'api_tokens', 'sessions', 'users', 'image_info', 'storage_groups', 'groups'])
      await k.schema.dropTableIfExists(t);
  },
} satisfies Migration;
