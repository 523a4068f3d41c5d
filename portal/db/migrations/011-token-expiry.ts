/** Migration 011-token-expiry: API tokens expire, and a revoked one stays revoked (the admin-token file is not taken again at start). */
import type { Knex } from 'knex';
import type { Migration } from './migration.js';

export default {
  async up(k: Knex) {
    await k.schema.alterTable('api_tokens', (t) => {
      t.bigInteger('expires_ms');
      t.bigInteger('revoked_ms');
    });
  },
  async down(k: Knex) {
    await k.schema.alterTable('api_tokens', (t) => {
      t.dropColumn('expires_ms');
      t.dropColumn('revoked_ms');
    });
  },
} satisfies Migration;
