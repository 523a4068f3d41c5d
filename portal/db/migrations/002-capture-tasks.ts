/** Migration 002-capture-tasks */
import type { Knex } from 'knex';
import type { Migration } from './migration.js';

export default {
  async up(k: Knex) {
    await k.schema.alterTable('tasks', (t) => {
      t.string('image_name');
      t.string('image_type');
      t.string('node');
    });
  },
  async down(k: Knex) {
    await k.schema.alterTable('tasks', (t) => {
      t.dropColumn('image_name');
      t.dropColumn('image_type');
      t.dropColumn('node');
    });
  },
} satisfies Migration;
