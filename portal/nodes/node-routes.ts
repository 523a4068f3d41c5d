/**
 * Storage nodes report in: who they are, where they listen, which images they hold. An image the
 * portal has not seen yet is read from the node (manifest and torrent), checked, and recorded; from
 * then on it counts as published, and the trackers admit its swarm.
 */
import { z } from 'zod';
import { API, NodeHeartbeatSchema, type NodeHeartbeat, type ReplicaSource } from '../../shared/http/api.js';
import { issueKey, nodesHolding } from '../images/tickets.js';
import { imageById, purgedInfoHashes } from '../images/image-store.js';
import { issueSwarmKey, keyedWebSeed } from '../../shared/keys/swarm-key.js';
import { parseManifest } from '../../shared/image/manifest.js';
import { describeTorrent } from '../../shared/image/torrent.js';
import { logger } from '../../shared/log.js';
import { requireNode } from '../access/auth.js';
import type { ApiRouter } from '../http/api-router.js';
import {
  HeartbeatReplySchema,
  PublishedSchema,
  ReplicaSourceSchema,
  StorageGroupListSchema,
  StorageGroupSchema,
  StorageNodeListSchema,
  StorageNodeSchema,
} from '../../shared/http/portal-contract.js';
import { audit, changes } from '../db/audit.js';
import { imageSizes } from '../../shared/image/image-sizes.js';
import { multicastSessionsFor } from './multicast.js';
import { noteHeartbeat, uploadRate } from './node-reports.js';
import {
  captureOf,
  deletedImageNames,
  heldImages,
  imagesLacking,
  insertStorageGroup,
  knownInfoHashes,
  nodeByName,
  nodesNamed,
  nodesPerStorageGroup,
  publishedInfoHashes,
  recordHeartbeat,
  recordImage,
  setNodeGroup,
  setNodeImages,
  storageGroup,
  storageGroups,
} from './node-store.js';
import { HttpError, notFound } from '../../shared/http/errors.js';
import type { PortalDeps } from '../deps.js';
import { failLostJobs, queuedJobsOf } from './node-job-store.js';
import { offerOf } from './node-job-view.js';
import { revokedSiteKeyHolders } from '../images/site-key-store.js';

const log = logger('portal');
/** A running job is lost when its node no longer names it and it sent no report for this long (it reports every second). */
const LOST_JOB_QUIET_MS = 15_000;

export async function learnImage(deps: PortalDeps, node: { name: string; httpUrl: string }, image: NodeHeartbeat['images'][number]): Promise<boolean> {
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
    const capture = await captureOf(deps.db, image.name, image.version);
    const review = capture && !capture.publish;
    await deps.db.transaction(async (tx) => {
      // A capture of a name the catalog lacks enters it; a pending or failed entry is now ok.
      await recordImage(
        tx,
        {
          info_hash: image.infoHash,
          name: image.name,
          version: image.version,
          manifest: m!.toString('utf8'),
          torrent: t!,
          created_ms: Date.now(),
          size_bytes: sizes.sizeBytes,
          min_disk_bytes: sizes.minDiskBytes,
          review_since_ms: review ? Date.now() : null,
          raw_bytes: manifest.rawBytes,
        },
        sizes.imageType,
      );
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

const num = (v: number | string | null): number | null => (v === null || v === undefined ? null : Number(v));

async function describeNodes(deps: PortalDeps, only?: string) {
  const nodes = await nodesNamed(deps.db, only);
  const held = await heldImages(deps.db);
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
    uploadBytesPerSec: uploadRate(deps.db, n.name),
    images: held.filter((h) => h.node === n.name).map((h) => `${h.name} v${h.version}`),
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
      response: HeartbeatReplySchema,
    },
    async (ctx, { body: hb }) => {
      requireNode(ctx, deps.config.secret, hb.name);
      await recordHeartbeat(db, {
        name: hb.name,
        http_url: hb.httpUrl,
        bt_addr: hb.btAddr,
        last_seen_ms: Date.now(),
        capacity_bytes: hb.capacityBytes ?? null,
        free_bytes: hb.freeBytes ?? null,
        upload_limit: hb.uploadLimit ?? null,
      });
      noteHeartbeat(db, hb.name, hb);
      const known = new Set(await knownInfoHashes(db));
      // A deleted image's copies are removed by the nodes still holding them (seeder/purge.ts);
      // a version of a deleted name the portal never saw is not published, nor removed.
      const purged = new Set(await purgedInfoHashes(db));
      const deleted = new Set(await deletedImageNames(db));
      const held: string[] = [];
      const purge: NodeHeartbeat['images'] = [];
      for (const image of hb.images) {
        if (purged.has(image.infoHash)) purge.push(image);
        else if (known.has(image.infoHash)) held.push(image.infoHash);
        else if (!deleted.has(image.name) && (await learnImage(deps, hb, image))) held.push(image.infoHash);
      }
      await db.transaction(async (tx) => setNodeImages(tx, hb.name, held));
      const lacking = hb.replicate ? (await imagesLacking(db, held)).map((r) => ({ name: r.name, version: r.version, infoHash: r.info_hash })) : [];
      // Imports and pulls (node-job-routes.ts): a running job the node no longer names, and that sent
      // no report for a while, was lost (the node restarted); queued ones are handed out.
      if (hb.jobs) await failLostJobs(db, hb.name, hb.jobs, LOST_JOB_QUIET_MS, Date.now());
      const jobs = (await queuedJobsOf(db, hb.name)).map(offerOf);
      return {
        held: held.length,
        replicate: lacking,
        multicast: await multicastSessionsFor(deps, hb.name),
        purge,
        jobs,
        revokedSiteKeys: await revokedSiteKeyHolders(db, Date.now()),
      };
    },
  );

  // A node replicating an image: manifest, torrent and the nodes it can fetch from.
  api.add(
    {
      method: 'get',
      path: `${API}/nodes/:name/images/:infoHash`,
      summary: 'What a node needs to replicate an image',
      tag: 'storage',
      access: 'node',
      response: ReplicaSourceSchema,
    },
    async (ctx, { params }) => {
      requireNode(ctx, deps.config.secret, params.name!);
      const image = await imageById(deps.db, params.infoHash!);
      const nodes = (await nodesHolding(deps, image.info_hash)).filter((n) => n.name !== params.name);
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
      response: StorageNodeListSchema,
    },
    async () => ({
      nodes: await describeNodes(deps),
    }),
  );

  api.add(
    {
      method: 'patch',
      path: `${API}/nodes/:name`,
      summary: 'Put a storage node in a storage group',
      tag: 'storage',
      access: 'admin',
      body: ChangeNode,
      response: StorageNodeSchema,
    },
    async (_ctx, { body, params, caller }) => {
      await db.transaction(async (tx) => {
        const before = await nodeByName(tx, params.name!);
        if (!before) throw notFound(`storage node ${params.name}`);
        if (body.group && !(await storageGroup(tx, body.group))) throw new HttpError(400, `unknown storage group ${body.group}`);
        await setNodeGroup(tx, params.name!, body.group);
        await audit(tx, caller.name, 'node.update', params.name!, changes({ group: before.storage_group }, body));
      });
      const [node] = await describeNodes(deps, params.name);
      if (!node) throw notFound(`storage node ${params.name}`);
      return node;
    },
  );

  api.add(
    {
      method: 'get',
      path: `${API}/storage-groups`,
      summary: 'Storage groups and their node counts',
      tag: 'storage',
      access: 'read',
      response: StorageGroupListSchema,
    },
    async () => {
      const counts = await nodesPerStorageGroup(db);
      return {
        groups: (await storageGroups(db)).map((g) => ({
          name: g.name,
          description: g.description,
          nodes: counts.get(g.name) ?? 0,
        })),
      };
    },
  );

  api.add(
    {
      method: 'post',
      path: `${API}/storage-groups`,
      summary: 'Add a storage group',
      tag: 'storage',
      access: 'admin',
      body: StorageGroup,
      status: 201,
      response: StorageGroupSchema,
    },
    async (_ctx, { body, caller }) => {
      await db.transaction(async (tx) => {
        if (await storageGroup(tx, body.name)) throw new HttpError(409, `storage group ${body.name} exists`);
        await insertStorageGroup(tx, { name: body.name, description: body.description ?? null, created_ms: Date.now() });
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
      response: PublishedSchema,
    },
    async () => ({
      infoHashes: await publishedInfoHashes(db),
    }),
  );
}
