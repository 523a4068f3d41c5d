/** Migration 005-unicast-node: Which storage node each PC's ticket named first for unicast: the portal's measure of a node's load. */
import type { Knex } from 'knex';
import type { Migration } from './migration.js';

export default {
  async up(k: Knex) {
    await k.schema.alterTable('task_hosts', (t) => t.string('unicast_node'));
  },
  async down(k: Knex) {
    await k.schema.alterTable('task_hosts', (t) => t.dropColumn('unicast_node'));
  },
} satisfies Migration;
