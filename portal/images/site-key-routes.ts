/**
 * Site keys: an admin issues another Shoal site a long-lived read key for one image (every
 * version, or one), to pull it from this site's storage nodes (the other site's node does: its
 * seeder/pull-image.ts). The key is a swarm key (shared/keys/swarm-key.ts) signed with the lab
 * secret for the scope siteReadScope(image[, infohash]), so the seeders check it as they check
 * every key, with the secret alone (a new key works at once); and a revoked one's holder is on
 * the list of revoked keys each heartbeat reply carries, so revoking it closes it on every node
 * within a heartbeat.
 */
import { API } from '../../shared/http/api.js';
import { CreateSiteKeySchema, NewSiteKeySchema, SiteKeyListSchema, SiteKeySchema, type SiteKey } from '../../shared/http/node-jobs.js';
import { issueSwarmKey, siteReadScope } from '../../shared/keys/swarm-key.js';
import { HttpError, notFound } from '../../shared/http/errors.js';
import type { ApiRouter } from '../http/api-router.js';
import { audit } from '../db/audit.js';
import type { SiteKeyRow } from '../db/tables.js';
import type { PortalDeps } from '../deps.js';
import { imageInfo, imageVersion, liveHoldings } from './image-store.js';
import { insertSiteKey, revokeSiteKey, siteKey, siteKeyHolder, siteKeysOf } from './site-key-store.js';

const DAY_MS = 86_400_000;

const iso = (ms: number | null): string | null => (ms === null || ms === undefined ? null : new Date(Number(ms)).toISOString());

const describe = (r: SiteKeyRow): SiteKey => ({
  id: r.id,
  image: r.image_name,
  version: r.image_version === null ? null : Number(r.image_version),
  site: r.site,
  createdBy: r.created_by,
  createdAt: iso(r.created_ms)!,
  expiresAt: iso(r.expires_ms)!,
  revokedAt: iso(r.revoked_ms),
});

export function siteKeyRoutes(api: ApiRouter, deps: PortalDeps): void {
  const { db } = deps;

  api.add(
    {
      method: 'post',
      path: `${API}/images/:name/site-keys`,
      summary: 'Issue another Shoal site a read key for this image (every version, or one) to pull it from these storage nodes',
      tag: 'images',
      access: 'admin',
      body: CreateSiteKeySchema,
      status: 201,
      response: NewSiteKeySchema,
    },
    async (_ctx, { params, body, caller }) => {
      const name = params.name!;
      const now = Date.now();
      const { row, key } = await db.transaction(async (tx) => {
        const info = await imageInfo(tx, name);
        if (!info) throw notFound(`image ${name}`);
        if (info.access === 'deleted') throw new HttpError(409, `image ${name} was deleted: its files are gone`);
        const version = body.version ? await imageVersion(tx, name, body.version) : undefined;
        if (body.version && (!version || version.purged_ms)) throw new HttpError(404, `image ${name} has no version ${body.version}`, 'version');
        const fields = {
          image_name: name,
          info_hash: version?.info_hash ?? null,
          image_version: version ? Number(version.version) : null,
          site: body.site,
          created_by: caller.name,
          created_ms: now,
          expires_ms: now + body.days * DAY_MS,
          revoked_ms: null,
        };
        const id = await insertSiteKey(tx, fields);
        await audit(tx, caller.name, 'site-key.issue', name, { key: id, site: body.site, version: body.version ?? 'every', expiresAt: iso(fields.expires_ms) });
        const key = issueSwarmKey(deps.config.secret, siteReadScope(name, fields.info_hash ?? undefined), siteKeyHolder(id), fields.expires_ms);
        return { row: { id, ...fields }, key };
      });
      // Where the other site pulls from: this site's nodes holding the image (the admin gives one of them there).
      const versions = new Set((await db('images').where({ name }).whereNull('purged_ms').select('info_hash')).map((r) => r.info_hash));
      const holders = new Set((await liveHoldings(db, now - deps.config.nodeTimeoutMs)).filter((h) => versions.has(h.info_hash)).map((h) => h.name));
      const urls = (
        await db('nodes')
          .whereIn('name', [...holders])
          .orderBy('name')
          .select('http_url')
      ).map((n) => n.http_url);
      return { ...describe(row), key, sources: urls };
    },
  );

  api.add(
    {
      method: 'get',
      path: `${API}/images/:name/site-keys`,
      summary: 'The read keys issued other sites for this image (without the keys themselves)',
      tag: 'images',
      access: 'admin',
      response: SiteKeyListSchema,
    },
    async (_ctx, { params }) => ({ keys: (await siteKeysOf(db, params.name!)).map(describe) }),
  );

  api.add(
    {
      method: 'delete',
      path: `${API}/site-keys/:id`,
      summary: "Revoke a site key: this site's storage nodes refuse it from their next heartbeat on",
      tag: 'images',
      access: 'admin',
      response: SiteKeySchema,
    },
    async (_ctx, { params, caller }) => {
      const id = Number(params.id);
      await db.transaction(async (tx) => {
        const row = await siteKey(tx, id);
        if (!row) throw notFound(`site key ${id}`);
        if (row.revoked_ms) throw new HttpError(409, `site key ${id} was revoked already`);
        await revokeSiteKey(tx, id, Date.now());
        await audit(tx, caller.name, 'site-key.revoke', row.image_name, { key: id, site: row.site });
      });
      return describe((await siteKey(db, id))!);
    },
  );
}
