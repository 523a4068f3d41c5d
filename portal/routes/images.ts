/**
 * Images as the admin sees them, a ticket for deploying one by hand (`shoal deploy --portal`), and
 * a standard .torrent with a fresh key in its announce URL (`shoal torrent`), for any client.
 */
import { randomBytes } from 'node:crypto';
import type Router from '@koa/router';
import bencode from 'bencode';
import { z } from 'zod';
import { API } from '../../shared/api.js';
import { requireAdmin } from '../auth.js';
import type { PortalDeps } from '../deps.js';
import { HttpError } from '../../shared/http-errors.js';
import { announceUrls, findImage, issueKey, liveNodesHolding, makeTicket } from '../tickets.js';

const VersionQuery = z.object({ version: z.coerce.number().int().positive().optional() });
const TorrentQuery = VersionQuery.extend({ webSeeds: z.enum(['true', 'false']).default('true') });

export function imageRoutes(router: Router, deps: PortalDeps): void {
  router.get(`${API}/images`, async (ctx) => {
    requireAdmin(ctx, deps.config.adminToken);
    const rows = await deps.db('images').select('name', 'version', 'info_hash', 'created_ms').orderBy([{ column: 'name' }, { column: 'version' }]);
    ctx.body = {
      images: await Promise.all(rows.map(async (r: { name: string; version: number; info_hash: string; created_ms: number }) => ({
        name: r.name, version: r.version, infoHash: r.info_hash, createdAt: new Date(Number(r.created_ms)).toISOString(),
        nodes: (await liveNodesHolding(deps, r.info_hash)).map((n) => n.name),
      }))),
    };
  });

  // Swarm stats from every tracker, per image: seeders, leechers, completed (summed over trackers).
  router.get(`${API}/swarms`, async (ctx) => {
    requireAdmin(ctx, deps.config.adminToken);
    const byHash = new Map<string, { infoHash: string; seeders: number; leechers: number; completed: number }>();
    const unreachable: string[] = [];
    await Promise.all(deps.config.trackers.map(async (t) => {
      try {
        const res = await fetch(`${t.replace(/\/+$/, '')}/swarms`, { signal: AbortSignal.timeout(5_000) });
        for (const s of ((await res.json()) as { swarms: Array<{ infoHash: string; seeders: number; leechers: number; completed: number }> }).swarms) {
          const sum = byHash.get(s.infoHash) ?? { infoHash: s.infoHash, seeders: 0, leechers: 0, completed: 0 };
          sum.seeders += s.seeders;
          sum.leechers += s.leechers;
          sum.completed += s.completed;
          byHash.set(s.infoHash, sum);
        }
      } catch {
        unreachable.push(t);
      }
    }));
    const names = new Map((await deps.db('images').select('info_hash', 'name', 'version')).map((r: { info_hash: string; name: string; version: number }) => [r.info_hash, r]));
    ctx.body = {
      swarms: [...byHash.values()].map((s) => ({ image: names.get(s.infoHash)?.name ?? null, version: names.get(s.infoHash)?.version ?? null, ...s })),
      unreachableTrackers: unreachable,
    };
  });

  router.post(`${API}/images/:name/ticket`, async (ctx) => {
    requireAdmin(ctx, deps.config.adminToken);
    const { version } = VersionQuery.parse(ctx.request.body ?? {});
    const image = await findImage(deps, ctx.params.name!, version);
    const { key, expiresMs } = issueKey(deps, image.info_hash, `cli-${randomBytes(6).toString('hex')}`);
    ctx.body = await makeTicket(deps, image, key, expiresMs);
  });

  router.get(`${API}/images/:name/torrent`, async (ctx) => {
    requireAdmin(ctx, deps.config.adminToken);
    const { version, webSeeds } = TorrentQuery.parse(ctx.query);
    const image = await findImage(deps, ctx.params.name!, version);
    const { key } = issueKey(deps, image.info_hash, `torrent-${randomBytes(6).toString('hex')}`);
    const announce = announceUrls(deps, key);
    if (!announce.length) throw new HttpError(409, 'the portal knows no tracker (start it with --tracker URL)');
    const nodes = await liveNodesHolding(deps, image.info_hash);
    // The info dictionary is untouched, so the infohash is the image's.
    const t = bencode.decode(Buffer.from(image.torrent)) as Record<string, unknown>;
    t.announce = announce[0];
    t['announce-list'] = announce.map((a) => [a]);
    if (webSeeds === 'true') t['url-list'] = nodes.map((n) => `${n.http_url}/images/${encodeURIComponent(image.name)}/`);
    ctx.type = 'application/x-bittorrent';
    ctx.attachment(`${image.name}-v${image.version}.torrent`);
    ctx.body = Buffer.from(bencode.encode(t));
  });
}
