/** Migration 007-start-together: A swarm deploy that starts together: when its first PC was ready, and when the group started. */
import type { Knex } from 'knex';
import type { Migration } from './migration.js';

export default {
  async up(k: Knex) {
    await k.schema.alterTable('tasks', (t) => {
      t.bigInteger('first_ready_ms');
      t.bigInteger('started_ms');
    });
  },
  async down(k: Knex) {
    await k.schema.alterTable('tasks', (t) => {
      t.dropColumn('first_ready_ms');
      t.dropColumn('started_ms');
    });
  },
} satisfies Migration;
