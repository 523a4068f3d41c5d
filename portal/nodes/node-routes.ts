/**
 * Storage nodes report in: who they are, where they listen, which images they hold. An image the
 * portal has not seen yet is read from the node (manifest and torrent), checked, and recorded; from
 * then on it counts as published, and the trackers admit its swarm.
 */
import { z } from 'zod';
import { API, NodeHeartbeatSchema, type NodeHeartbeat, type ReplicaSource } from '../../shared/http/api.js';
import { imageById, issueKey, liveNodesHolding } from '../images/tickets.js';
import { issueSwarmKey, keyedWebSeed } from '../../shared/keys/swarm-key.js';
import { parseManifest } from '../../shared/image/manifest.js';
import { describeTorrent } from '../../shared/image/torrent.js';
import { logger } from '../../shared/log.js';
import { requireNode } from '../access/auth.js';
import type { ApiRouter } from '../http/api-router.js';
import { audit } from '../db/audit.js';
import { imageSizes } from '../../shared/image/image-sizes.js';
import { multicastSessionsFor } from './multicast.js';
import { HttpError, notFound } from '../../shared/http/errors.js';
import type { PortalDeps } from '../deps.js';

const log = logger('portal');

async function learnImage(deps: PortalDeps, node: { name: string; httpUrl: string }, image: NodeHeartbeat['images'][number]): Promise<boolean> {
  const base = `${keyedWebSeed(node.httpUrl, issueSwarmKey(deps.config.secret, image.infoHash, 'portal', Date.now() + 60_000), image.name)}v${image.version}`;
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
    const sizes = imageSizes(m!.toString('utf8'));
    // A version a PC captured waits for an admin's review before deploys pick it, unless its task
    // said to publish at once; one placed in a store on a node is the admin's own doing.
    const capture = await deps.db('tasks').where({ kind: 'capture', image_name: image.name, image_version: image.version }).first();
    const review = capture && !capture.publish;
    await deps.db.transaction(async (tx) => {
      // A capture of a name the catalog lacks enters it; a pending or failed entry is now ok.
      await tx('image_info')
        .insert({ name: image.name, image_type: sizes.imageType, access: 'public', status: 'ok', tags: '[]', created_ms: Date.now() })
        .onConflict('name')
        .ignore();
      await tx('image_info').where({ name: image.name }).update({ status: 'ok' });
      await tx('images')
        .insert({
          info_hash: image.infoHash,
          name: image.name,
          version: image.version,
          manifest: m!.toString('utf8'),
          torrent: t,
          created_ms: Date.now(),
          size_bytes: sizes.sizeBytes,
          min_disk_bytes: sizes.minDiskBytes,
          review_since_ms: review ? Date.now() : null,
        })
        .onConflict('info_hash')
        .ignore();
      await audit(tx, `node:${node.name}`, 'image.publish', image.name, {
        version: image.version,
        infoHash: image.infoHash,
        ...(review && { review: 'waits for an admin' }),
        ...(capture && { task: capture.id }),
      });
    });
    log.info({ node: node.name, image: image.name, version: image.version }, 'image published');
    return true;
  } catch (err) {
    log.warn({ node: node.name, image: image.name, version: image.version, err: (err as Error).message }, 'cannot take this image from the node');
    return false;
  }
}

const StorageGroup = z
  .object({
    name: z
      .string()
      .trim()
      .regex(/^[A-Za-z0-9][A-Za-z0-9 ._-]{0,63}$/),
    description: z.string().max(1000).optional(),
  })
  .strict();
const ChangeNode = z.object({ group: z.string().nullable() }).strict();

interface NodeRow {
  name: string;
  http_url: string;
  bt_addr: string;
  last_seen_ms: number;
  storage_group: string | null;
  capacity_bytes: number | null;
  free_bytes: number | null;
  upload_limit: number | null;
}

const num = (v: number | string | null): number | null => (v === null || v === undefined ? null : Number(v));

async function describeNodes(deps: PortalDeps, only?: string) {
  const nodes = await (only ? deps.db<NodeRow>('nodes').where({ name: only }) : deps.db<NodeRow>('nodes').orderBy('name'));
  const held = await deps
    .db('node_images')
    .join('images', 'images.info_hash', 'node_images.info_hash')
    .select('node_images.node', 'images.name', 'images.version', 'images.info_hash');
  return nodes.map((n) => ({
    name: n.name,
    httpUrl: n.http_url,
    btAddr: n.bt_addr,
    group: n.storage_group,
    lastSeen: new Date(Number(n.last_seen_ms)).toISOString(),
    up: Number(n.last_seen_ms) >= Date.now() - deps.config.nodeTimeoutMs,
    capacityBytes: num(n.capacity_bytes),
    freeBytes: num(n.free_bytes),
    uploadLimit: num(n.upload_limit),
    images: held.filter((h: { node: string }) => h.node === n.name).map((h: { name: string; version: number }) => `${h.name} v${h.version}`),
  }));
}

export function nodeRoutes(api: ApiRouter, deps: PortalDeps): void {
  const { db } = deps;

  api.add(
    {
      method: 'post',
      path: `${API}/nodes/heartbeat`,
      summary: 'A storage node reports in with the images it holds',
      tag: 'storage',
      access: 'node',
      body: NodeHeartbeatSchema,
    },
    async (ctx, { body: hb }) => {
      requireNode(ctx, deps.config.secret, hb.name);
      await db('nodes')
        .insert({
          name: hb.name,
          http_url: hb.httpUrl,
          bt_addr: hb.btAddr,
          last_seen_ms: Date.now(),
          capacity_bytes: hb.capacityBytes ?? null,
          free_bytes: hb.freeBytes ?? null,
          upload_limit: hb.uploadLimit ?? null,
        })
        .onConflict('name')
        .merge(['http_url', 'bt_addr', 'last_seen_ms', 'capacity_bytes', 'free_bytes', 'upload_limit']);
      const known = new Set((await db('images').select('info_hash')).map((r: { info_hash: string }) => r.info_hash));
      // A deleted image's copies are not published again by the nodes still holding them.
      const deleted = new Set((await db('image_info').where({ access: 'deleted' }).select('name')).map((r: { name: string }) => r.name));
      const held: string[] = [];
      for (const image of hb.images) {
        if (deleted.has(image.name)) continue;
        if (known.has(image.infoHash) || (await learnImage(deps, hb, image))) held.push(image.infoHash);
      }
      await db.transaction(async (tx) => {
        await tx('node_images').where({ node: hb.name }).delete();
        if (held.length) await tx('node_images').insert(held.map((h) => ({ node: hb.name, info_hash: h })));
      });
      const lacking = hb.replicate
        ? (
            await db('images')
              .join('image_info', 'image_info.name', 'images.name')
              .whereNot('image_info.access', 'deleted')
              .whereNotIn('images.info_hash', held)
              .select('images.name', 'images.version', 'images.info_hash')
          ).map((r: { name: string; version: number; info_hash: string }) => ({ name: r.name, version: r.version, infoHash: r.info_hash }))
        : [];
      return { held: held.length, replicate: lacking, multicast: await multicastSessionsFor(deps, hb.name) };
    },
  );

  // A node replicating an image: manifest, torrent and the nodes it can fetch from.
  api.add(
    { method: 'get', path: `${API}/nodes/:name/images/:infoHash`, summary: 'What a node needs to replicate an image', tag: 'storage', access: 'node' },
    async (ctx, { params }) => {
      requireNode(ctx, deps.config.secret, params.name!);
      const image = await imageById(deps, params.infoHash!);
      const nodes = (await liveNodesHolding(deps, image.info_hash)).filter((n) => n.name !== params.name);
      const { key } = issueKey(deps, image.info_hash, params.name!);
      return {
        image: { name: image.name, version: image.version, infoHash: image.info_hash },
        manifest: JSON.parse(image.manifest),
        torrent: Buffer.from(image.torrent).toString('base64'),
        peers: nodes.map((n) => n.bt_addr),
        webSeeds: nodes.map((n) => keyedWebSeed(n.http_url, key, image.name)),
      } satisfies ReplicaSource;
    },
  );

  api.add(
    {
      method: 'get',
      path: `${API}/nodes`,
      summary: 'Storage nodes: online state, capacity, free space, upload limit, images held',
      tag: 'storage',
      access: 'read',
    },
    async () => ({
      nodes: await describeNodes(deps),
    }),
  );

  api.add(
    { method: 'patch', path: `${API}/nodes/:name`, summary: 'Put a storage node in a storage group', tag: 'storage', access: 'admin', body: ChangeNode },
    async (_ctx, { body, params, caller }) => {
      await db.transaction(async (tx) => {
        if (!(await tx('nodes').where({ name: params.name }).first())) throw notFound(`storage node ${params.name}`);
        if (body.group && !(await tx('storage_groups').where({ name: body.group }).first())) throw new HttpError(400, `unknown storage group ${body.group}`);
        await tx('nodes').where({ name: params.name }).update({ storage_group: body.group });
        await audit(tx, caller.name, 'node.update', params.name!, body);
      });
      return (await describeNodes(deps, params.name))[0];
    },
  );

  api.add({ method: 'get', path: `${API}/storage-groups`, summary: 'Storage groups and their node counts', tag: 'storage', access: 'read' }, async () => {
    const counts = new Map(
      (await db('nodes').whereNotNull('storage_group').groupBy('storage_group').select('storage_group').count({ n: '*' })).map((r: any) => [
        r.storage_group,
        Number(r.n),
      ]),
    );
    return {
      groups: (await db('storage_groups').orderBy('name')).map((g: { name: string; description: string | null }) => ({
        name: g.name,
        description: g.description,
        nodes: counts.get(g.name) ?? 0,
      })),
    };
  });

  api.add(
    { method: 'post', path: `${API}/storage-groups`, summary: 'Add a storage group', tag: 'storage', access: 'admin', body: StorageGroup, status: 201 },
    async (_ctx, { body, caller }) => {
      await db.transaction(async (tx) => {
        if (await tx('storage_groups').where({ name: body.name }).first()) throw new HttpError(409, `storage group ${body.name} exists`);
        await tx('storage_groups').insert({ name: body.name, description: body.description ?? null, created_ms: Date.now() });
        await audit(tx, caller.name, 'storage-group.create', body.name);
      });
      return { name: body.name, description: body.description ?? null, nodes: 0 };
    },
  );

  // The trackers ask this: every image the portal has published and not deleted (a store
  // publishes only complete, verified images; the portal records them after checking them).
  api.add(
    {
      method: 'get',
      path: `${API}/swarm/published`,
      summary: "Infohashes of published images (the trackers' admission list)",
      tag: 'storage',
      access: 'public',
    },
    async () => ({
      infoHashes: (
        await db('images').join('image_info', 'image_info.name', 'images.name').whereNot('image_info.access', 'deleted').select('images.info_hash')
      ).map((r: { info_hash: string }) => r.info_hash),
    }),
  );
}
