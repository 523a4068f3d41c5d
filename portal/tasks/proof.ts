/**
 * Proof that a PC holds the image before its `seeding` or `done` is believed. A PC has no secret
 * of its own and its key goes to whoever asked first (tasks/task-routes.ts claimTaskKey): without a
 * proof, a report of `done` closed a task with nothing written and the real PC booted its old
 * disk. So the first time a PC says it holds the image, the portal answers with a challenge: a
 * nonce and a few pieces it picks at random; the PC answers with SHA-256 over the nonce and those
 * pieces' data as its disk holds it (client/deploy/resume.ts proofOfPieces); the portal works out the
 * same from the pieces on a storage node and believes the PC only when they agree. A fresh nonce
 * each time: an answer cannot be kept and replayed, and none can be made without the data.
 */
import { issueSwarmKey, keyedWebSeed } from '../../shared/keys/swarm-key.js';
import { createHash } from 'node:crypto';
import { parseManifest, torrentPieces } from '../../shared/image/manifest.js';
import { applyPiece } from '../../shared/image/piece-map.js';
import { pieceRanges, torrentLayout, webSeedFileUrl } from '../../shared/image/piece-ranges.js';
import { HttpError } from '../../shared/http/errors.js';
import type { TaskDeps } from './task-deps.js';
import { nodesHolding } from '../images/tickets.js';
import type { ImageRow } from '../db/tables.js';
import type { Challenge } from './proof-challenges.js';

/** Decoded pieces kept (a pool or two of images deployed at once). */
const MAX_KEPT = 48;
const FETCH_MS = 30_000;

/** The answer a PC holding the image gives: the pieces' data (from a storage node, kept), hashed after the nonce. */
export async function expectedProof(deps: TaskDeps, image: ImageRow, c: Challenge): Promise<string> {
  const proof = createHash('sha256').update(c.nonce);
  for (const index of c.pieces) {
    const key = `${image.info_hash}/${index}`;
    let data = deps.proofs.kept.get(key);
    if (!data) {
      data = pieceData(deps, image, index);
      deps.proofs.kept.set(key, data);
      data.catch(() => deps.proofs.kept.delete(key));
      while (deps.proofs.kept.size > MAX_KEPT) deps.proofs.kept.delete(deps.proofs.kept.keys().next().value!);
    }
    for (const chunk of await data) proof.update(chunk);
  }
  return proof.digest('hex');
}

/** Piece `index`'s data, in run order without its zero runs: fetched from a storage node holding the image and decoded. */
async function pieceData(deps: TaskDeps, image: ImageRow, index: number): Promise<Buffer[]> {
  const m = parseManifest(JSON.parse(image.manifest), `image ${image.name} v${image.version}`);
  const layout = torrentLayout(Buffer.from(image.torrent));
  const p = [...torrentPieces(m)][index];
  if (!p) throw new HttpError(400, `image ${image.name} v${image.version} has no piece ${index}`);
  const nodes = await nodesHolding(deps, image.info_hash);
  if (!nodes.length)
    throw new HttpError(503, `no storage node holding ${image.name} v${image.version} is up to check the PC's proof against: it reports again`);
  // The portal reads with a key of its own, like any reader (a minute is plenty for a few pieces).
  const portalKey = issueSwarmKey(deps.config.secret, image.info_hash, 'portal', Date.now() + 60_000);
  let bytes: Buffer | undefined;
  let last = '';
  for (const node of nodes) {
    try {
      const parts = await Promise.all(
        pieceRanges(layout, index).map(async (r) => {
          const res = await fetch(webSeedFileUrl(keyedWebSeed(node.http_url, portalKey, image.name), layout, r.path), {
            headers: { range: `bytes=${r.start}-${r.end}`, 'x-shoal-proof': '1' },
            signal: AbortSignal.timeout(FETCH_MS),
          });
          if (res.status !== 206 && res.status !== 200) throw new Error(`HTTP ${res.status}`);
          return Buffer.from(await res.arrayBuffer());
        }),
      );
      bytes = Buffer.concat(parts);
      break;
    } catch (err) {
      last = `${node.name}: ${(err as Error).message}`;
    }
  }
  if (!bytes)
    throw new HttpError(
      503,
      `piece ${index} of ${image.name} v${image.version} could not be read from a storage node (${last}) to check the PC's proof: it reports again`,
    );
  const chunks: Buffer[] = [];
  applyPiece(
    bytes,
    { imageId: m.imageId, index: p.index, entry: p.piece },
    { areaId: p.area.id, diskOffset: 0, limitBytes: Number.MAX_SAFE_INTEGER },
    Number.MAX_SAFE_INTEGER,
    (_at, _length, chunk) => {
      if (chunk) chunks.push(Buffer.from(chunk));
    },
    { checkRaw: true },
  );
  return chunks;
}
