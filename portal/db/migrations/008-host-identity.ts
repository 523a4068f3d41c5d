/** Migration 008-host-identity: Per-host identity after a deploy (hostname, machine-id, Windows computer name) unless the image turns it off (an image whose systems name themselves, or a kiosk image meant to be identical). */
import type { Knex } from 'knex';
import type { Migration } from './migration.js';

export default {
  async up(k: Knex) {
    await k.schema.alterTable('image_info', (t) => t.boolean('set_identity').notNullable().defaultTo(true));
  },
  async down(k: Knex) {
    await k.schema.alterTable('image_info', (t) => t.dropColumn('set_identity'));
  },
} satisfies Migration;
