/**
 * A swarm ticket: what a PC (or an admin's .torrent) needs to join one image's swarm, with a key
 * for its holder. Web seeds, direct peers and unicast sources are the storage nodes that reported
 * the image lately.
 */
import { createHash } from 'node:crypto';
import { issueSwarmKey, keyedWebSeed } from '../../shared/keys/swarm-key.js';
import type { SwarmTicket } from '../../shared/http/api.js';
import type { PortalDeps } from '../deps.js';
import type { ImageRow } from '../db/tables.js';
export type { ImageRow } from '../db/tables.js';
import type { Caller } from '../access/auth.js';
import { HttpError, notFound } from '../../shared/http/errors.js';

/** A private image is seen by its owner and admins only. */
export const maySee = (row: { access: string; owner: string | null }, caller: Caller): boolean =>
  row.access !== 'private' || caller.role === 'admin' || row.owner === caller.name;

/**
 * The image by name, its newest version unless one is asked for; with `caller`, only one that
 * caller may see (another owner's private image is not found, as in the image list).
 */
export async function findImage(deps: PortalDeps, name: string, version?: number, caller?: Caller): Promise<ImageRow> {
  const info = await deps.db('image_info').where({ name }).first();
  if (info && caller && !maySee(info, caller)) throw notFound(`image ${name}`);
  if (info?.access === 'deleted') throw new HttpError(409, `image ${name} is deleted`);
  const q = deps.db<ImageRow>('images').where({ name });
  // The newest version an admin let through; a version named outright is taken as it is (to try it before approving it).
  const row = await (version ? q.andWhere({ version }) : q.whereNull('review_since_ms').orderBy('version', 'desc')).first();
  if (!row) {
    const waiting = version ? undefined : await deps.db('images').where({ name }).whereNotNull('review_since_ms').orderBy('version', 'desc').first();
    if (waiting)
      throw new HttpError(
        409,
        `image ${name} v${waiting.version} waits for an admin's review (approve it on the Images page, or POST /api/v1/images/${name}/versions/${waiting.version}/approve; or deploy it by version to try it first)`,
      );
    if (info && !version) throw new HttpError(409, `image ${name} has no published version yet (status ${info.status}): capture it first`);
    throw notFound(`image ${name}${version ? ` v${version}` : ''}`);
  }
  return row;
}

export async function imageById(deps: PortalDeps, infoHash: string): Promise<ImageRow> {
  const row = await deps.db<ImageRow>('images').where({ info_hash: infoHash }).first();
  if (!row) throw notFound(`image ${infoHash}`);
  return row;
}

export async function liveNodesHolding(deps: PortalDeps, infoHash: string): Promise<Array<{ name: string; http_url: string; bt_addr: string }>> {
  return deps
    .db('nodes')
    .join('node_images', 'nodes.name', 'node_images.node')
    .where('node_images.info_hash', infoHash)
    .andWhere('nodes.last_seen_ms', '>=', Date.now() - deps.config.nodeTimeoutMs)
    .select('nodes.name', 'nodes.http_url', 'nodes.bt_addr');
}

export function announceUrls(deps: PortalDeps, key: string): string[] {
  return deps.config.trackers.map((t) => `${t.replace(/\/+$/, '')}/${key}/announce`);
}

/**
 * Nodes least loaded first, for unicast. A node's load is the PCs in active tasks, not finished,
 * whose ticket named it first (task_hosts.unicast_node): what the portal handed out, so it holds
 * across portals sharing one database and before a PC has fetched a byte, where the nodes' own
 * upload figures would lag by a heartbeat and not see PCs about to start. Ties go by a hash of
 * holder and node, so that PCs booting together spread over equally loaded nodes.
 */
export async function byUnicastLoad<N extends { name: string }>(deps: PortalDeps, nodes: N[], holder: string): Promise<N[]> {
  if (nodes.length < 2) return nodes;
  const rows = await deps
    .db('task_hosts')
    .join('tasks', 'tasks.id', 'task_hosts.task_id')
    .where('tasks.state', 'active')
    .whereNotIn('task_hosts.state', ['done', 'failed', 'cancelled'])
    .whereIn(
      'task_hosts.unicast_node',
      nodes.map((n) => n.name),
    )
    .groupBy('task_hosts.unicast_node')
    .select('task_hosts.unicast_node as node')
    .count({ n: '*' });
  const load = new Map((rows as Array<{ node: string; n: number | string }>).map((r) => [r.node, Number(r.n)]));
  const tie = (n: N): string => createHash('sha1').update(`${holder}\0${n.name}`).digest('hex');
  return nodes
    .map((n) => ({ n, load: load.get(n.name) ?? 0, tie: tie(n) }))
    .sort((a, b) => a.load - b.load || (a.tie < b.tie ? -1 : a.tie > b.tie ? 1 : 0))
    .map((x) => x.n);
}

/**
 * `holder` spreads ties in the unicast order; `assign`, a PC of a task, records the node it is
 * handed first (its load, above).
 */
export async function makeTicket(
  deps: PortalDeps,
  image: ImageRow,
  key: string,
  keyExpiresMs: number,
  opts: { holder?: string; assign?: { taskId: number; mac: string } } = {},
): Promise<SwarmTicket> {
  const nodes = await liveNodesHolding(deps, image.info_hash);
  const webSeed = (n: { http_url: string }): string => keyedWebSeed(n.http_url, key, image.name);
  const unicast = await byUnicastLoad(deps, nodes, opts.holder ?? opts.assign?.mac ?? key);
  if (opts.assign)
    await deps
      .db('task_hosts')
      .where({ task_id: opts.assign.taskId, mac: opts.assign.mac })
      .update({ unicast_node: unicast[0]?.name ?? null });
  return {
    image: { name: image.name, version: image.version, infoHash: image.info_hash },
    manifest: JSON.parse(image.manifest),
    torrent: Buffer.from(image.torrent).toString('base64'),
    announce: announceUrls(deps, key),
    webSeeds: nodes.map(webSeed),
    peers: nodes.map((n) => n.bt_addr),
    unicast: unicast.map(webSeed),
    keyExpiresAt: new Date(keyExpiresMs).toISOString(),
  };
}

export function issueKey(deps: PortalDeps, infoHash: string, holder: string): { key: string; expiresMs: number } {
  const expiresMs = Date.now() + deps.config.keyLifetimeMs;
  return { key: issueSwarmKey(deps.config.secret, infoHash, holder, expiresMs), expiresMs };
}
