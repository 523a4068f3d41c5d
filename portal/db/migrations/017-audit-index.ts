/**
 * Migration 017-audit-index: the audit log is read by time range and by actor (the audit page, its
 * CSV export); a lab's log grows by every login and change, so those reads use an index each.
 */
import type { Migration } from './migration.js';

const migration: Migration = {
  async up(k) {
    await k.schema.alterTable('audit', (t) => {
      t.index(['at_ms'], 'audit_at_ms');
      t.index(['actor'], 'audit_actor');
    });
  },
  async down(k) {
    await k.schema.alterTable('audit', (t) => {
      t.dropIndex(['at_ms'], 'audit_at_ms');
      t.dropIndex(['actor'], 'audit_actor');
    });
  },
};
export default migration;
