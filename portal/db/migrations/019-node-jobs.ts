/**
 * Migration 019-node-jobs: jobs the portal gives a storage node that end in a new image version
 * (an import of a FOG or Clonezilla folder on the node, a pull from another Shoal site), with their
 * progress and outcome; and the read keys this site issues other sites to pull its images.
 */
import type { Knex } from 'knex';
import type { Migration } from './migration.js';

export default {
  async up(k: Knex) {
    await k.schema.createTable('node_jobs', (t) => {
      t.increments('id');
      t.string('kind').notNullable();
      t.string('node').notNullable();
      t.string('image_name').notNullable();
      t.integer('image_version').notNullable();
      t.string('state').notNullable();
      /** JSON: the import's folder and format, or the pull's source (with its key, never answered). */
      t.text('params').notNullable();
      t.bigInteger('done_bytes').notNullable().defaultTo(0);
      t.bigInteger('total_bytes').notNullable().defaultTo(0);
      t.text('error');
      t.string('info_hash');
      t.string('created_by').notNullable();
      t.bigInteger('created_ms').notNullable();
      t.bigInteger('started_ms');
      t.bigInteger('updated_ms');
      t.bigInteger('finished_ms');
      t.index(['node', 'state'], 'node_jobs_node_state');
      t.index(['image_name'], 'node_jobs_image');
    });
    await k.schema.createTable('site_keys', (t) => {
      t.increments('id');
      t.string('image_name').notNullable();
      /** One version's infohash, or null: every version of the image. */
      t.string('info_hash');
      t.integer('image_version');
      t.string('site').notNullable();
      t.string('created_by').notNullable();
      t.bigInteger('created_ms').notNullable();
      t.bigInteger('expires_ms').notNullable();
      t.bigInteger('revoked_ms');
    });
  },
  async down(k: Knex) {
    await k.schema.dropTableIfExists('site_keys');
    await k.schema.dropTableIfExists('node_jobs');
  },
} satisfies Migration;
