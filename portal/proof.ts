/**
 * Proof that a PC holds the image before its `seeding` or `done` is believed. A PC has no secret
 * of its own and its key goes to whoever asked first (routes/tasks.ts claimTaskKey): without a
 * proof, a report of `done` closed a task with nothing written and the real PC booted its old
 * disk. So the first time a PC says it holds the image, the portal answers with a challenge: a
 * nonce and a few pieces it picks at random; the PC answers with SHA-256 over the nonce and those
 * pieces' data as its disk holds it (client/resume.ts proofOfPieces); the portal works out the
 * same from the pieces on a storage node and believes the PC only when they agree. A fresh nonce
 * each time: an answer cannot be kept and replayed, and none can be made without the data.
 */
import { createHash, randomBytes, randomInt } from 'node:crypto';
import { parseManifest, RUN_ZERO, torrentPieces } from '../shared/manifest.js';
import { applyPiece } from '../shared/piece-map.js';
import { pieceRanges, torrentLayout, webSeedFileUrl } from '../shared/piece-ranges.js';
import { HttpError } from '../shared/http-errors.js';
import type { PortalDeps } from './deps.js';
import { liveNodesHolding, type ImageRow } from './tickets.js';

/** Pieces a challenge names: enough that a PC holding part of the image is caught, few enough to be cheap. */
const CHALLENGE_PIECES = 3;
/** An open challenge not answered within this long is forgotten (the PC gets a new one). */
const CHALLENGE_MS = 10 * 60_000;
const FETCH_MS = 30_000;

export interface Challenge {
  nonce: string;
  pieces: number[];
}

export class ProofChallenges {
  private readonly open = new Map<string, Challenge & { at: number }>();

  /** A new challenge for this host over the image's pieces that carry data. */
  issue(taskId: number, mac: string, image: ImageRow): Challenge {
    const m = parseManifest(JSON.parse(image.manifest), `image ${image.name} v${image.version}`);
    const withData = [...torrentPieces(m)].flatMap((p, i) => (p.piece.runs.some((r) => r[2] !== RUN_ZERO) ? [i] : []));
    const pieces = new Set<number>();
    while (pieces.size < Math.min(CHALLENGE_PIECES, withData.length)) pieces.add(withData[randomInt(withData.length)]!);
    const c = { nonce: randomBytes(16).toString('hex'), pieces: [...pieces].sort((a, b) => a - b) };
    const now = Date.now();
    for (const [k, v] of this.open) if (now - v.at > CHALLENGE_MS) this.open.delete(k);
    this.open.set(`${taskId}/${mac}`, { ...c, at: now });
    return c;
  }

  /** The open challenge with this nonce, taken (one answer per challenge). */
  take(taskId: number, mac: string, nonce: string): Challenge | undefined {
    const c = this.open.get(`${taskId}/${mac}`);
    if (!c || c.nonce !== nonce || Date.now() - c.at > CHALLENGE_MS) return undefined;
    this.open.delete(`${taskId}/${mac}`);
    return c;
  }
}

/** The answer a PC holding the image gives: the pieces fetched from a storage node, decoded, hashed after the nonce. */
export async function expectedProof(deps: PortalDeps, image: ImageRow, c: Challenge): Promise<string> {
  const m = parseManifest(JSON.parse(image.manifest), `image ${image.name} v${image.version}`);
  const layout = torrentLayout(Buffer.from(image.torrent));
  const listed = [...torrentPieces(m)];
  const nodes = await liveNodesHolding(deps, image.info_hash);
  if (!nodes.length) throw new HttpError(503, `no storage node holding ${image.name} v${image.version} is up to check the PC's proof against: it reports again`);
  const proof = createHash('sha256').update(c.nonce);
  for (const index of c.pieces) {
    const p = listed[index]!;
    let bytes: Buffer | undefined;
    let last = '';
    for (const node of nodes) {
      try {
        const parts = await Promise.all(pieceRanges(layout, index).map(async (r) => {
          const res = await fetch(webSeedFileUrl(`${node.http_url}/images/${encodeURIComponent(image.name)}/`, layout, r.path), { headers: { range: `bytes=${r.start}-${r.end}` }, signal: AbortSignal.timeout(FETCH_MS) });
          if (res.status !== 206 && res.status !== 200) throw new Error(`HTTP ${res.status}`);
          return Buffer.from(await res.arrayBuffer());
        }));
        bytes = Buffer.concat(parts);
        break;
      } catch (err) {
        last = `${node.name}: ${(err as Error).message}`;
      }
    }
    if (!bytes) throw new HttpError(503, `piece ${index} of ${image.name} v${image.version} could not be read from a storage node (${last}) to check the PC's proof: it reports again`);
    applyPiece(bytes, { imageId: m.imageId, index: p.index, entry: p.piece }, { areaId: p.area.id, diskOffset: 0, limitBytes: Number.MAX_SAFE_INTEGER }, Number.MAX_SAFE_INTEGER, (_at, _length, chunk) => {
      if (chunk) proof.update(chunk);
    }, { checkRaw: true });
  }
  return proof.digest('hex');
}
