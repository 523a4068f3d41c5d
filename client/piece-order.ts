/**
 * Shoal's own piece order on top of webtorrent's sequential one (its rarest-first costs three
 * times the CPU here). Three rules:
 * - Each PC walks the image from its own starting piece (the start of its share when the portal
 *   gives it one, random otherwise), so PCs that start together want different pieces first and
 *   have something to trade from the first second.
 * - A PC asks a storage node (or a web seed) only for pieces no other PC serving it holds.
 * - When the portal split the image into shares (PC i of N gets the i-th N-th), a PC asks the
 *   storage nodes only for pieces of its own share, and gets the rest from the PCs whose share it
 *   is, unless no piece has come from a PC for STARVING_MS (a PC of the group is missing, or the
 *   others are slow): then any piece will do. The nodes hand out each piece about once.
 * webtorrent has no hooks for either, so this reaches into webtorrent's Torrent: `_select`
 * with its stream flag (plain selections that touch are merged, which would undo the rotation),
 * `_request` (wrapped), `_update` (called every NUDGE_MS: a request declined to a node is
 * otherwise not retried until some peer event happens, which can stall the last pieces; and
 * coalesced, see below) and `_updateWire` (skipped for storage nodes that have nothing to give).
 * test/unit/piece-order.test.ts and the swarm tests catch a webtorrent that changed.
 */
import type { Torrent } from 'webtorrent';
import { isSeederPeerId } from '../shared/peer-id.js';

export interface Wire {
  peerId?: string;
  type?: string;
  peerChoking: boolean;
  peerPieces: { get(i: number): boolean };
}

interface TorrentInternals {
  _request(wire: Wire, index: number, hotswap: boolean): boolean;
  _select(from: number, to: number, priority: number, notify: undefined, isStreamSelection: boolean): void;
  _update(): void;
  _updateWire(wire: Wire): void;
  wires: Wire[];
  destroyed: boolean;
}

const NUDGE_MS = 500;
const STARVING_MS = 2_000;

/** This PC's part of a group deploy: the index-th of `count` equal slices of the pieces. */
export interface Share {
  index: number;
  count: number;
}

export function shareRange(share: Share | undefined, pieces: number): [number, number] {
  if (!share || share.count <= 1) return [0, pieces];
  const i = Math.min(Math.max(0, share.index), share.count - 1);
  return [Math.floor((i * pieces) / share.count), Math.floor(((i + 1) * pieces) / share.count)];
}

/** [start, end] ranges (inclusive) of the pieces not held, in index order. */
export function missingRanges(held: boolean[]): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  held.forEach((h, i) => {
    if (h) return;
    const last = out[out.length - 1];
    if (last && last[1] === i - 1) last[1] = i;
    else out.push([i, i]);
  });
  return out;
}

/** The missing pieces as ranges in the order to ask for them: from `start` to the end, then from 0. */
export function rotatedRanges(held: boolean[], start: number): Array<[number, number]> {
  const n = held.length;
  const s = n ? ((start % n) + n) % n : 0;
  const rotated = [...held.slice(s), ...held.slice(0, s)];
  return missingRanges(rotated).flatMap(([a, b]): Array<[number, number]> => {
    const from = a + s;
    const to = b + s;
    if (to < n) return [[from, to]];
    if (from >= n) return [[from - n, to - n]];
    return [[from, n - 1], [0, to - n]];
  });
}

export const isStorage = (w: Wire): boolean => w.type === 'webSeed' || isSeederPeerId(w.peerId);

function internals(torrent: Torrent): TorrentInternals {
  const t = torrent as unknown as TorrentInternals;
  for (const f of ['_request', '_select', '_update', '_updateWire'] as const) {
    if (typeof t[f] !== 'function') throw new Error(`webtorrent changed: Torrent.${f} is gone (see client/piece-order.ts)`);
  }
  return t;
}

/** Selects the pieces not held in this PC's order and spares the storage nodes; returns a stop function. */
export function applyPieceOrder(torrent: Torrent, held: boolean[], share?: Share): () => void {
  const t = internals(torrent);
  const [from, to] = shareRange(share, held.length);
  const start = share && share.count > 1 ? from : Math.floor(Math.random() * held.length);
  let lastFromPeersAt = Date.now();
  // Whether a PC has fed this one lately, read once per pass over the wires rather than for each
  // piece webtorrent offers a node (every missing piece, on every pass).
  let starving = false;
  const got = [...held];
  let shareLeft = 0;
  for (let i = from; i < to; i++) if (!got[i]) shareLeft++;
  torrent.on('verified', (index: number) => {
    if (got[index]) return;
    got[index] = true;
    if (index >= from && index < to) shareLeft--;
  });
  const storage = new WeakMap<Wire, boolean>();
  const fromStorage = (w: Wire): boolean => {
    let is = storage.get(w);
    if (is === undefined && w.peerId !== undefined) storage.set(w, (is = isStorage(w)));
    return is ?? isStorage(w);
  };
  torrent.on('wire', (wire: Wire & { on(e: 'download', f: () => void): void }) => {
    wire.on('download', () => {
      if (!fromStorage(wire)) lastFromPeersAt = Date.now();
    });
  });
  const request = t._request.bind(torrent);
  t._request = (wire, index, hotswap) => {
    if (fromStorage(wire)) {
      const mine = index >= from && index < to;
      if (!mine && !starving) return false;
      if (t.wires.some((w) => w !== wire && !fromStorage(w) && !w.peerChoking && w.peerPieces.get(index))) return false;
    }
    return request(wire, index, hotswap);
  };
  // webtorrent offers a node every missing piece on every pass; once this PC's share is in and
  // PCs are feeding it, the node gets none of them, so the pass skips it.
  const updateWire = t._updateWire.bind(torrent);
  t._updateWire = (wire) => {
    if (shareLeft <= 0 && !starving && fromStorage(wire)) return;
    updateWire(wire);
  };
  // webtorrent runs _update, a pass over every wire and the selections, after every block that
  // arrives and every `have` from every peer: 16 KiB at 2 MiB/s is 128 passes a second over 16
  // wires. Each wire keeps at least half a second of requests queued (PIPELINE_MIN_DURATION), so
  // one pass per turn of the event loop loses nothing.
  const update = t._update.bind(torrent);
  let updateQueued = false;
  t._update = () => {
    if (updateQueued) return;
    updateQueued = true;
    setImmediate(() => {
      updateQueued = false;
      if (t.destroyed) return;
      starving = Date.now() - lastFromPeersAt >= STARVING_MS;
      update();
    });
  };
  // Priority 0 for all: webtorrent keeps equal priorities in the order given.
  for (const [from, to] of rotatedRanges(held, start)) t._select(from, to, 0, undefined, true);
  const nudge = setInterval(() => {
    if (!t.destroyed) t._update();
  }, NUDGE_MS).unref();
  return () => clearInterval(nudge);
}
