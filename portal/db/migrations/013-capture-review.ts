/** Migration 013-capture-review: A version captured over the network waits for an admin's review, unless its task said publish. */
import type { Knex } from 'knex';
import type { Migration } from './migration.js';

export default {
  async up(k: Knex) {
    await k.schema.alterTable('images', (t) => t.bigInteger('review_since_ms'));
    await k.schema.alterTable('tasks', (t) => t.boolean('publish').notNullable().defaultTo(false));
  },
  async down(k: Knex) {
    await k.schema.alterTable('images', (t) => t.dropColumn('review_since_ms'));
    await k.schema.alterTable('tasks', (t) => t.dropColumn('publish'));
  },
} satisfies Migration;
