/** Migration 006-boot-finish */
import type { Knex } from 'knex';
import type { Migration } from './migration.js';

export default {
  async up(k: Knex) {
    await k.schema.alterTable('tasks', (t) => t.string('finish').notNullable().defaultTo('reboot'));
  },
  async down(k: Knex) {
    await k.schema.alterTable('tasks', (t) => t.dropColumn('finish'));
  },
} satisfies Migration;
