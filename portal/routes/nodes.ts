/**
 * Storage nodes report in: who they are, where they listen, which images they hold. An image the
 * portal has not seen yet is read from the node (manifest and torrent), checked, and recorded; from
 * then on it counts as published, and the trackers admit its swarm.
 */
import type Router from '@koa/router';
import { API, NodeHeartbeatSchema, type NodeHeartbeat, type ReplicaSource } from '../../shared/api.js';
import { imageById, liveNodesHolding } from '../tickets.js';
import { parseManifest } from '../../shared/manifest.js';
import { describeTorrent } from '../../shared/torrent.js';
import { logger } from '../../shared/log.js';
import { requireAdmin, requireNode } from '../auth.js';
import type { PortalDeps } from '../deps.js';

const log = logger('portal');

async function learnImage(deps: PortalDeps, node: { name: string; httpUrl: string }, image: NodeHeartbeat['images'][number]): Promise<boolean> {
  const base = `${node.httpUrl}/images/${encodeURIComponent(image.name)}/v${image.version}`;
  try {
    const [m, t] = await Promise.all(
      ['manifest.json', 'image.torrent'].map(async (f) => {
        const res = await fetch(`${base}/${f}`, { signal: AbortSignal.timeout(10_000) });
        if (!res.ok) throw new Error(`${f}: HTTP ${res.status}`);
        return Buffer.from(await res.arrayBuffer());
      }),
    );
    const manifest = parseManifest(JSON.parse(m!.toString('utf8')), `${base}/manifest.json`);
    const torrent = describeTorrent(t!);
    if (manifest.infoHash !== image.infoHash || torrent.infoHash !== image.infoHash || manifest.name !== image.name || manifest.version !== image.version) {
      throw new Error('manifest, torrent and report disagree on the image');
    }
    await deps.db('images')
      .insert({ info_hash: image.infoHash, name: image.name, version: image.version, manifest: m!.toString('utf8'), torrent: t, created_ms: Date.now() })
      .onConflict('info_hash').ignore();
    log.info({ node: node.name, image: image.name, version: image.version }, 'image published');
    return true;
  } catch (err) {
    log.warn({ node: node.name, image: image.name, version: image.version, err: (err as Error).message }, 'cannot take this image from the node');
    return false;
  }
}

export function nodeRoutes(router: Router, deps: PortalDeps): void {
  router.post(`${API}/nodes/heartbeat`, async (ctx) => {
    const hb = NodeHeartbeatSchema.parse(ctx.request.body);
    requireNode(ctx, deps.config.secret, hb.name);
    const { db } = deps;
    await db('nodes').insert({ name: hb.name, http_url: hb.httpUrl, bt_addr: hb.btAddr, last_seen_ms: Date.now() })
      .onConflict('name').merge();
    const known = new Set((await db('images').select('info_hash')).map((r: { info_hash: string }) => r.info_hash));
    const held: string[] = [];
    for (const image of hb.images) {
      if (known.has(image.infoHash) || (await learnImage(deps, hb, image))) held.push(image.infoHash);
    }
    await db.transaction(async (tx) => {
      await tx('node_images').where({ node: hb.name }).delete();
      if (held.length) await tx('node_images').insert(held.map((h) => ({ node: hb.name, info_hash: h })));
    });
    const lacking = hb.replicate
      ? (await db('images').whereNotIn('info_hash', held).select('name', 'version', 'info_hash')).map((r: { name: string; version: number; info_hash: string }) => ({ name: r.name, version: r.version, infoHash: r.info_hash }))
      : [];
    ctx.body = { held: held.length, replicate: lacking };
  });

  // A node replicating an image: manifest, torrent and the nodes it can fetch from.
  router.get(`${API}/nodes/:name/images/:infoHash`, async (ctx) => {
    requireNode(ctx, deps.config.secret, ctx.params.name!);
    const image = await imageById(deps, ctx.params.infoHash!);
    const nodes = (await liveNodesHolding(deps, image.info_hash)).filter((n) => n.name !== ctx.params.name);
    ctx.body = {
      image: { name: image.name, version: image.version, infoHash: image.info_hash },
      manifest: JSON.parse(image.manifest), torrent: Buffer.from(image.torrent).toString('base64'), peers: nodes.map((n) => n.bt_addr),
    } satisfies ReplicaSource;
  });

  router.get(`${API}/nodes`, async (ctx) => {
    requireAdmin(ctx, deps.config.adminToken);
    const nodes = await deps.db('nodes').select('name', 'http_url', 'bt_addr', 'last_seen_ms').orderBy('name');
    const held = await deps.db('node_images').select('node', 'info_hash');
    ctx.body = {
      nodes: nodes.map((n: { name: string; http_url: string; bt_addr: string; last_seen_ms: number }) => ({
        name: n.name, httpUrl: n.http_url, btAddr: n.bt_addr, lastSeen: new Date(Number(n.last_seen_ms)).toISOString(),
        up: Number(n.last_seen_ms) >= Date.now() - deps.config.nodeTimeoutMs,
        images: held.filter((h: { node: string }) => h.node === n.name).map((h: { info_hash: string }) => h.info_hash),
      })),
    };
  });

  // The trackers ask this: every image the portal knows is published (a store publishes only
  // complete, verified images; the portal records them only after checking manifest and torrent).
  router.get(`${API}/swarm/published`, async (ctx) => {
    ctx.body = { infoHashes: (await deps.db('images').select('info_hash')).map((r: { info_hash: string }) => r.info_hash) };
  });
}
