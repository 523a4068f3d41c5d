/** Migration 003-capture-version */
import type { Knex } from 'knex';
import type { Migration } from './migration.js';

export default {
  async up(k: Knex) {
    await k.schema.alterTable('tasks', (t) => t.integer('image_version'));
  },
  async down(k: Knex) {
    await k.schema.alterTable('tasks', (t) => t.dropColumn('image_version'));
  },
} satisfies Migration;
