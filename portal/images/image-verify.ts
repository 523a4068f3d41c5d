/**
 * Verify a version's pieces where they are kept: the portal reads each file of the version from
 * every storage node holding it (the same keyed HTTP reads a web seed serves), cuts the bytes into
 * the torrent's pieces and compares each piece's SHA-1 with the torrent's. It reads over HTTP, not
 * from a disk of its own, because the portal and the stores are separate processes (often separate
 * machines); `shoal verify` (client/deploy/verify.ts) is the same check on a store at hand, and
 * also decompresses each piece. One check per version at a time, held in this process: the page
 * polls its progress, and the last result stays until the next check or a restart.
 */
import { createHash, type Hash } from 'node:crypto';
import { issueSwarmKey, keyedWebSeed } from '../../shared/keys/swarm-key.js';
import { describeTorrent } from '../../shared/image/torrent.js';
import { torrentLayout, webSeedFileUrl } from '../../shared/image/piece-ranges.js';
import type { ImageVerify } from '../../shared/http/portal-contract.js';
import { logger } from '../../shared/log.js';
import type { ImageRow } from '../db/tables.js';
import type { PortalDeps } from '../deps.js';
import { nodesHolding } from './tickets.js';

const log = logger('portal');
/** A file read that stalls this long fails that node's check (a slow node, not a stuck page). */
const READ_STALL_MS = 60_000;
const KEY_LIFETIME_MS = 6 * 3_600_000;
const BAD_LISTED = 20;

type NodeCheck = ImageVerify['nodes'][number];

const checks = new Map<string, ImageVerify>();

/** The last or running check of this version, or `none`. */
export function verifyStatus(infoHash: string, version: number): ImageVerify {
  return checks.get(infoHash) ?? { version, state: 'none', startedAt: null, finishedAt: null, nodes: [] };
}

/** Starts a check of every node holding the version (a running one is left to go on). */
export async function startVerify(deps: PortalDeps, image: ImageRow): Promise<ImageVerify> {
  const running = checks.get(image.info_hash);
  if (running?.state === 'running') return running;
  const nodes = await nodesHolding(deps, image.info_hash);
  const { pieceSha1s } = describeTorrent(Buffer.from(image.torrent));
  const check: ImageVerify = {
    version: image.version,
    state: 'running',
    startedAt: new Date().toISOString(),
    finishedAt: null,
    nodes: nodes.map((n) => ({ node: n.name, state: 'waiting', total: pieceSha1s.length, checked: 0, good: 0, bad: 0, badPieces: [], error: null })),
  };
  checks.set(image.info_hash, check);
  void (async () => {
    // One node after another: the check should not take a lab's links from its deploys.
    for (const [i, node] of nodes.entries()) await checkNode(deps, image, node, check.nodes[i]!, pieceSha1s);
    log.info({ image: image.name, version: image.version, nodes: check.nodes.map((n) => `${n.node}: ${n.good} good, ${n.bad} bad`) }, 'image verified');
  })()
    // A check that breaks (a torrent that cannot be read, a key that cannot be made) ends as
    // failed on the page, and never as an unhandled rejection, which would end the portal.
    .catch((err: unknown) => {
      for (const n of check.nodes)
        if (n.state === 'waiting' || n.state === 'running') {
          n.state = 'failed';
          n.error = `the check stopped: ${(err as Error).message}`;
        }
      log.error({ err, image: image.name, version: image.version }, 'image verify failed');
    })
    .finally(() => {
      check.state = 'done';
      check.finishedAt = new Date().toISOString();
    });
  return check;
}

async function checkNode(deps: PortalDeps, image: ImageRow, node: { name: string; http_url: string }, out: NodeCheck, sha1s: string[]): Promise<void> {
  out.state = 'running';
  const layout = torrentLayout(Buffer.from(image.torrent));
  const key = issueSwarmKey(deps.config.secret, image.info_hash, 'portal-verify', Date.now() + KEY_LIFETIME_MS);
  const base = keyedWebSeed(node.http_url, key, image.name);
  let piece = 0;
  let filled = 0;
  let hash: Hash = createHash('sha1');
  let spoilt = false;
  const finishPiece = (): void => {
    const good = !spoilt && hash.digest('hex') === sha1s[piece];
    if (good) out.good++;
    else {
      out.bad++;
      if (out.badPieces.length < BAD_LISTED) out.badPieces.push(piece);
    }
    out.checked++;
    piece++;
    filled = 0;
    hash = createHash('sha1');
    spoilt = false;
  };
  const pieceBytes = (i: number): number => Math.min(layout.pieceLength, layout.files.reduce((n, f) => n + f.length, 0) - i * layout.pieceLength);
  // Bytes of the torrent's concatenation, in order: a file that cannot be read spoils its pieces.
  const feed = (chunk: Buffer | number): void => {
    let rest = typeof chunk === 'number' ? chunk : chunk.length;
    let at = 0;
    while (rest > 0 && piece < layout.pieceCount) {
      const take = Math.min(rest, pieceBytes(piece) - filled);
      if (typeof chunk === 'number') spoilt = true;
      else hash.update(chunk.subarray(at, at + take));
      filled += take;
      at += take;
      rest -= take;
      if (filled === pieceBytes(piece)) finishPiece();
    }
  };
  for (const file of layout.files) {
    let got = 0;
    try {
      const abort = new AbortController();
      let stall = setTimeout(() => abort.abort(), READ_STALL_MS);
      try {
        const res = await fetch(webSeedFileUrl(base, layout, file.path), { headers: { 'x-shoal-proof': '1' }, signal: abort.signal });
        if (!res.ok || !res.body) throw new Error(`HTTP ${res.status} for ${file.path}`);
        for await (const c of res.body as unknown as AsyncIterable<Uint8Array>) {
          clearTimeout(stall);
          stall = setTimeout(() => abort.abort(), READ_STALL_MS);
          const chunk = Buffer.from(c.buffer, c.byteOffset, Math.min(c.length, file.length - got));
          got += chunk.length;
          feed(chunk);
        }
      } finally {
        clearTimeout(stall);
      }
      if (got < file.length) throw new Error(`${file.path} is ${got} bytes, the torrent says ${file.length}`);
    } catch (err) {
      out.error ??= `${node.name}: ${(err as Error).message}`;
      feed(file.length - got);
    }
  }
  out.state = out.error && out.good === 0 ? 'failed' : 'done';
}
