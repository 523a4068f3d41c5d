/**
 * The challenges the portal puts to PCs that say they hold their image (proof.ts says why): which
 * pieces each names, drawn from a small pool per image, and which are open. Apart from proof.ts,
 * which reads pieces from storage nodes, so that what every route is given (deps.ts) holds this
 * state without importing the routes' helpers.
 */
import { randomBytes, randomInt } from 'node:crypto';
import { parseManifest, RUN_ZERO, torrentPieces } from '../../shared/image/manifest.js';
import type { ImageRow } from '../db/tables.js';
import { localBus, type ClusterBus } from '../db/cluster-bus.js';

/** Pieces a challenge names: enough that a PC holding part of the image is caught, few enough to be cheap. */
const CHALLENGE_PIECES = 3;
/**
 * Challenges draw from a pool of pieces picked once per image, whose data the portal reads from a
 * storage node once and keeps: 200 PCs then cost the node POOL_PIECES pieces, not 600.
 */
const POOL_PIECES = 12;
/** An open challenge not answered within this long is forgotten (the PC gets a new one). */
const CHALLENGE_MS = 10 * 60_000;

export interface Challenge {
  nonce: string;
  pieces: number[];
}

const pick = (from: number[], n: number): number[] => {
  const chosen = new Set<number>();
  while (chosen.size < Math.min(n, from.length)) chosen.add(from[randomInt(from.length)]!);
  return [...chosen];
};

/**
 * Portals sharing a PostgreSQL database tell each other of every challenge put and taken
 * (db/cluster-bus.ts): a PC may be challenged by one and answer another.
 */
export class ProofChallenges {
  private readonly open = new Map<string, Challenge & { at: number }>();
  private readonly pools = new Map<string, number[]>();
  /** infoHash/index → the piece's data chunks, decoded from a node's copy. */
  readonly kept = new Map<string, Promise<Buffer[]>>();

  constructor(private readonly bus: ClusterBus = localBus()) {
    bus.on('proof.issued', (m) => {
      const { taskId, mac, nonce, pieces, at } = m as Challenge & { taskId: number; mac: string; at: number };
      this.open.set(`${taskId}/${mac}`, { nonce, pieces, at });
    });
    bus.on('proof.taken', (m) => {
      const { taskId, mac, nonce } = m as { taskId: number; mac: string; nonce: string };
      if (this.open.get(`${taskId}/${mac}`)?.nonce === nonce) this.open.delete(`${taskId}/${mac}`);
    });
  }

  /** A new challenge for this host over the image's pieces that carry data. */
  issue(taskId: number, mac: string, image: ImageRow): Challenge {
    let pool = this.pools.get(image.info_hash);
    if (!pool) {
      const m = parseManifest(JSON.parse(image.manifest), `image ${image.name} v${image.version}`);
      pool = pick(
        [...torrentPieces(m)].flatMap((p, i) => (p.piece.runs.some((r) => r[2] !== RUN_ZERO) ? [i] : [])),
        POOL_PIECES,
      );
      this.pools.set(image.info_hash, pool);
    }
    const pieces = new Set(pick(pool, CHALLENGE_PIECES));
    const c = { nonce: randomBytes(16).toString('hex'), pieces: [...pieces].sort((a, b) => a - b) };
    const now = Date.now();
    for (const [k, v] of this.open) if (now - v.at > CHALLENGE_MS) this.open.delete(k);
    this.open.set(`${taskId}/${mac}`, { ...c, at: now });
    this.bus.publish('proof.issued', { taskId, mac, ...c, at: now });
    return c;
  }

  /** The open challenge with this nonce, taken (one answer per challenge). */
  take(taskId: number, mac: string, nonce: string): Challenge | undefined {
    const c = this.open.get(`${taskId}/${mac}`);
    if (!c || c.nonce !== nonce || Date.now() - c.at > CHALLENGE_MS) return undefined;
    this.open.delete(`${taskId}/${mac}`);
    this.bus.publish('proof.taken', { taskId, mac, nonce });
    return c;
  }
}
