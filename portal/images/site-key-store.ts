/** Every query on site keys (site_keys): the read keys this site issued others to pull its images. */
import type { Knex } from 'knex';
import { insertedId, type Db } from '../db/open.js';
import type { SiteKeyRow } from '../db/tables.js';

type Q = Db | Knex.Transaction;

export async function insertSiteKey(tx: Q, row: Omit<SiteKeyRow, 'id'>): Promise<number> {
  return insertedId((await tx('site_keys').insert(row).returning('id'))[0]);
}

export const siteKey = (db: Q, id: number): Promise<SiteKeyRow | undefined> => db('site_keys').where({ id }).first();

export const siteKeysOf = (db: Q, image: string): Promise<SiteKeyRow[]> => db('site_keys').where({ image_name: image }).orderBy('id', 'desc');

export async function revokeSiteKey(tx: Q, id: number, nowMs: number): Promise<void> {
  await tx('site_keys').where({ id }).whereNull('revoked_ms').update({ revoked_ms: nowMs });
}

/** A site key's holder as it is signed into the key (shared/keys/swarm-key.ts SITE_KEY_HOLDER). */
export const siteKeyHolder = (id: number): string => `site-${id}`;

/**
 * The holders of the keys revoked and not expired yet (an expired key is refused by itself): the
 * storage nodes are told them in every heartbeat reply, so a revoke takes effect within one.
 */
export async function revokedSiteKeyHolders(db: Q, nowMs: number): Promise<string[]> {
  const rows = await db('site_keys').whereNotNull('revoked_ms').where('expires_ms', '>', nowMs).select('id');
  return rows.map((r) => siteKeyHolder(r.id));
}
