/**
 * A swarm ticket: what a PC (or an admin's .torrent) needs to join one image's swarm, with a key
 * for its holder. Web seeds, direct peers and unicast sources are the storage nodes that reported
 * the image lately.
 */
import { createHash } from 'node:crypto';
import { issueSwarmKey, keyedWebSeed } from '../../shared/keys/swarm-key.js';
import type { SwarmTicket } from '../../shared/http/api.js';
import { labDhtName } from '../../shared/swarm/lab-dht.js';
import type { PortalDeps } from '../deps.js';
import type { ImageRow } from '../db/tables.js';
import { liveNodesHolding, setUnicastNode, unicastLoads } from './image-store.js';

/** The storage nodes that reported this image lately. */
export const nodesHolding = (deps: PortalDeps, infoHash: string) => liveNodesHolding(deps.db, infoHash, Date.now() - deps.config.nodeTimeoutMs);

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
  const rows = await unicastLoads(
    deps.db,
    nodes.map((n) => n.name),
  );
  const load = new Map(rows.map((r) => [r.node, r.n]));
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
  const nodes = await nodesHolding(deps, image.info_hash);
  const webSeed = (n: { http_url: string }): string => keyedWebSeed(n.http_url, key, image.name);
  const unicast = await byUnicastLoad(deps, nodes, opts.holder ?? opts.assign?.mac ?? key);
  if (opts.assign) await setUnicastNode(deps.db, opts.assign.taskId, opts.assign.mac, unicast[0]?.name ?? null);
  return {
    image: { name: image.name, version: image.version, infoHash: image.info_hash },
    manifest: JSON.parse(image.manifest),
    torrent: Buffer.from(image.torrent).toString('base64'),
    announce: announceUrls(deps, key),
    webSeeds: nodes.map(webSeed),
    peers: nodes.map((n) => n.bt_addr),
    unicast: unicast.map(webSeed),
    // The seeders answer DHT queries on their BitTorrent port's number (UDP): `peers` bootstraps it.
    dhtName: labDhtName(deps.config.secret, image.info_hash),
    keyExpiresAt: new Date(keyExpiresMs).toISOString(),
  };
}

export function issueKey(deps: PortalDeps, infoHash: string, holder: string): { key: string; expiresMs: number } {
  const expiresMs = Date.now() + deps.config.keyLifetimeMs;
  return { key: issueSwarmKey(deps.config.secret, infoHash, holder, expiresMs), expiresMs };
}
