/** Migration 010-key-address: The address a host's task key was handed to: the key goes out once, to that address. */
import type { Knex } from 'knex';
import type { Migration } from './migration.js';

export default {
  async up(k: Knex) {
    await k.schema.alterTable('task_hosts', (t) => t.string('key_ip', 64));
  },
  async down(k: Knex) {
    await k.schema.alterTable('task_hosts', (t) => t.dropColumn('key_ip'));
  },
} satisfies Migration;
