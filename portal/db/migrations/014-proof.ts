/** Migration 014-proof: When a host proved it holds the image (portal/tasks/proof.ts): only then are its seeding and done believed. */
import type { Knex } from 'knex';
import type { Migration } from './migration.js';

export default {
  async up(k: Knex) {
    await k.schema.alterTable('task_hosts', (t) => t.bigInteger('proven_ms'));
  },
  async down(k: Knex) {
    await k.schema.alterTable('task_hosts', (t) => t.dropColumn('proven_ms'));
  },
} satisfies Migration;
