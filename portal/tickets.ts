/**
 * A swarm ticket: what a PC (or an admin's .torrent) needs to join one image's swarm, with a key
 * for its holder. Web seeds and direct peers are the storage nodes that reported the image lately.
 */
import { issueSwarmKey } from '../shared/swarm-key.js';
import type { SwarmTicket } from '../shared/api.js';
import type { PortalDeps } from './deps.js';
import { HttpError, notFound } from '../shared/http-errors.js';

export interface ImageRow {
  info_hash: string;
  name: string;
  version: number;
  manifest: string;
  torrent: Buffer;
}

/** The image by name, its newest version unless one is asked for. */
export async function findImage(deps: PortalDeps, name: string, version?: number): Promise<ImageRow> {
  const info = await deps.db('image_info').where({ name }).first();
  if (info?.access === 'deleted') throw new HttpError(409, `image ${name} is deleted`);
  const q = deps.db<ImageRow>('images').where({ name });
  const row = await (version ? q.andWhere({ version }) : q.orderBy('version', 'desc')).first();
  if (!row) {
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
  return deps.db('nodes')
    .join('node_images', 'nodes.name', 'node_images.node')
    .where('node_images.info_hash', infoHash)
    .andWhere('nodes.last_seen_ms', '>=', Date.now() - deps.config.nodeTimeoutMs)
    .select('nodes.name', 'nodes.http_url', 'nodes.bt_addr');
}

export function announceUrls(deps: PortalDeps, key: string): string[] {
  return deps.config.trackers.map((t) => `${t.replace(/\/+$/, '')}/${key}/announce`);
}

export async function makeTicket(deps: PortalDeps, image: ImageRow, key: string, keyExpiresMs: number): Promise<SwarmTicket> {
  const nodes = await liveNodesHolding(deps, image.info_hash);
  return {
    image: { name: image.name, version: image.version, infoHash: image.info_hash },
    manifest: JSON.parse(image.manifest),
    torrent: Buffer.from(image.torrent).toString('base64'),
    announce: announceUrls(deps, key),
    webSeeds: nodes.map((n) => `${n.http_url}/images/${encodeURIComponent(image.name)}/`),
    peers: nodes.map((n) => n.bt_addr),
    keyExpiresAt: new Date(keyExpiresMs).toISOString(),
  };
}

export function issueKey(deps: PortalDeps, infoHash: string, holder: string): { key: string; expiresMs: number } {
  const expiresMs = Date.now() + deps.config.keyLifetimeMs;
  return { key: issueSwarmKey(deps.config.secret, infoHash, holder, expiresMs), expiresMs };
}
