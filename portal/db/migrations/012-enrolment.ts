/** Migration 012-enrolment: Enrolment: a MAC that registered itself waits for approval; a group may have a registration secret. */
import type { Knex } from 'knex';
import type { Migration } from './migration.js';

export default {
  async up(k: Knex) {
    await k.schema.alterTable('hosts', (t) => t.boolean('pending').notNullable().defaultTo(false));
    await k.schema.alterTable('groups', (t) => t.string('secret_hash', 64));
  },
  async down(k: Knex) {
    await k.schema.alterTable('hosts', (t) => t.dropColumn('pending'));
    await k.schema.alterTable('groups', (t) => t.dropColumn('secret_hash'));
  },
} satisfies Migration;
