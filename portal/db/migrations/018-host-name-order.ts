/**
 * Migration 018-host-name-order: hosts sort by name as people read them (pc-9 before pc-10), by a
 * key kept beside the name (db/name-order.ts), filled here for the hosts there are.
 */
import { nameOrder } from '../name-order.js';
import { untyped, type Migration } from './migration.js';

const migration: Migration = {
  async up(k) {
    await k.schema.alterTable('hosts', (t) => {
      t.text('name_order').nullable();
    });
    // The key is compared byte by byte, as SQLite does: PostgreSQL's own collation (en_US) would
    // skip "-", "." and "_" and sort the same names another way.
    if ((k.client as { config: { client: string } }).config.client === 'pg') await k.raw('ALTER TABLE hosts ALTER COLUMN name_order TYPE text COLLATE "C"');
    await k.schema.alterTable('hosts', (t) => {
      t.index(['name_order'], 'hosts_name_order');
    });
    const named = await untyped(k, 'hosts').whereNotNull('name').select<Array<{ mac: string; name: string }>>('mac', 'name');
    for (const h of named)
      await untyped(k, 'hosts')
        .where({ mac: h.mac })
        .update({ name_order: nameOrder(h.name) });
  },
  async down(k) {
    await k.schema.alterTable('hosts', (t) => {
      t.dropIndex(['name_order'], 'hosts_name_order');
      t.dropColumn('name_order');
    });
  },
};
export default migration;
