/**
 * Migration 015-image-lifecycle: an image is retired (kept, hidden from new work, can come back)
 * or deleted (its files purged from every store, a tombstone left); "access: deleted" meant the
 * first, so those rows become retired. A version keeps the size a deploy writes (rawBytes) beside
 * its stored size, and when its files were purged.
 */
import type { Knex } from 'knex';
import { addColumns, untyped, type Migration } from './migration.js';

const columns = addColumns({
  image_info: {
    access_before: (t, c) => t.string(c),
    access_ms: (t, c) => t.bigInteger(c),
  },
  images: {
    raw_bytes: (t, c) => t.bigInteger(c),
    purged_ms: (t, c) => t.bigInteger(c),
  },
});

export default {
  async up(k: Knex) {
    await columns.up(k);
    await untyped(k, 'image_info').where({ access: 'deleted' }).update({ access: 'retired', access_before: 'public', access_ms: Date.now() });
    const rows = await untyped(k, 'images').select<Array<{ info_hash: string; manifest: string }>>('info_hash', 'manifest');
    for (const r of rows) {
      const raw = (JSON.parse(r.manifest) as { rawBytes?: unknown }).rawBytes;
      if (typeof raw === 'number') await untyped(k, 'images').where({ info_hash: r.info_hash }).update({ raw_bytes: raw });
    }
  },
  async down(k: Knex) {
    await untyped(k, 'image_info').whereIn('access', ['retired', 'deleted']).update({ access: 'deleted' });
    await columns.down(k);
  },
} satisfies Migration;
