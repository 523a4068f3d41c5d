/**
 * Shoal's own piece order on top of webtorrent's sequential one (its rarest-first costs three
 * times the CPU here). Four rules:
 * - Each PC walks the image from its own starting piece (the start of its share when the portal
 *   gives it one, random otherwise), so PCs that start together want different pieces first and
 *   have something to trade from the first second.
 * - A PC asks a storage node (or a web seed) only for pieces no other PC serving it holds.
 * - When the portal split the image into shares (PC i of N gets the i-th N-th), a PC asks the
 *   storage nodes only for pieces of its own share, and gets the rest from the PCs whose share it
 *   is, unless no piece has come from a PC for STARVING_MS (a PC of the group is missing, or the
 *   others are slow): then any piece will do. The nodes hand out each piece about once.
 * - Room to spare: once its share is in, a PC that the other PCs feed well under its best rate
 *   while its own CPU keeps up (client/swarm/feed-meter.ts) asks a storage node for EXTRA_PIECES pieces
 *   at a time that no one is sending it yet, taken from the far end of its order (what the PCs
 *   would send it last), or the blocks no PC was asked for of a piece PCs have begun
 *   - if the nodes can send NODE_ROOM times its best rate or more: the rate its share came at,
 *   times the group's size, since the nodes sent every PC of the group its share at once. That is
 *   how a PC tells a server with room (10 GbE for 1 GbE PCs) from one that is the swarm's
 *   bottleneck (a 1 GbE server, or 16 PCs on one link): there, every extra piece is one a share
 *   waits for. (Judged on the share's rate alone, a 10× server fed 32 PCs their shares at 0.31
 *   of their rate and never sent an extra: README, "Room to spare at N = 32".)
 *   Why: the PCs' uplinks are the swarm's scarce part. In the lab simulator at N = 4 (a 160 Mbit/s
 *   server, 16 Mbit/s PCs) the PCs filled their links with their shares from the server, then the
 *   PCs' uplinks alone carried the rest at 0.5-1.4 MiB/s of 1.83 while the server sat idle. A
 *   first try offered the nodes every missing piece on every pass once a PC looked underfed; on a
 *   loaded machine every PC does, and it doubled the CPU (docs/benchmarks.md, "Room to spare").
 * - Room first: a PC outside this PC's /24 (its room: a lab's switch, whose uplink to the rest of
 *   the campus is thinner than the room's ports together) is asked only for pieces that no PC of
 *   the room serving this one holds, and, when the portal gave this PC a room part, only for the
 *   pieces of that part: each piece then crosses the uplink about once, fetched by the PC whose part
 *   it is, and the room's others take it from that PC. A PC walks its room part first (from its
 *   share, which lies inside it), so the room's imports start at once. The rule is off while the
 *   PC is starving or underfed (the PCs feed it under UNDERFED_SHARE of its best): then a room-mate
 *   that is slow, or missing, holds up no piece. With room parts, extras come from this PC's part
 *   only: any other piece is a room-mate's to bring in. Without the rule webtorrent asks whichever
 *   wire holds the next piece, wherever it is: the swarm model found only 45 % of the PCs'
 *   traffic staying in its room at 200 PCs, and the full-rate PCs at 2.37x their bound; with the
 *   first half of the rule 2.06x, with room parts 1.30x at 200 and 1.33x at 1,000 PCs, the
 *   server sending one image (docs/swarm-model.md). One room (every PC in one /24, as in the lab
 *   simulator) changes nothing.
 * webtorrent has no hooks for any of this, so this reaches into webtorrent's Torrent: `_select`
 * with its stream flag (plain selections that touch are merged, which would undo the rotation),
 * `_request` (wrapped), `_update` (called every NUDGE_MS: a request declined to a node is
 * otherwise not retried until some peer event happens, which can stall the last pieces; and
 * coalesced, see below), `_updateWire` (skipped for storage nodes that have nothing to give),
 * `pieces[i]._reservations` (whether anyone is sending a piece) and a node wire's `downloadSpeed`.
 * test/unit/piece-order.test.ts and the swarm tests catch a webtorrent that changed.
 */
import type { Torrent } from 'webtorrent';
import { isSeederPeerId } from '../../shared/swarm/peer-id.js';
import { feedMeter, samplerLateness } from './feed-meter.js';
import { torrentInternals } from '../../shared/webtorrent/internals.js';
import { lanAddress, subnetOf } from '../../shared/lan-address.js';

export interface Wire {
  peerId?: string;
  /** Set by webtorrent once connected: where the peer is, for the room-first rule. */
  remoteAddress?: string;
  type?: string;
  peerChoking: boolean;
  peerPieces: { get(i: number): boolean };
}

interface NodeWire extends Wire {
  destroyed: boolean;
  /** bittorrent-protocol's meter: with an argument it counts bytes, without it gives bytes/s. */
  downloadSpeed(bytes?: number): number;
}

const NUDGE_MS = 500;
const STARVING_MS = 2_000;
const EXTRA_PIECES = 2;
const NODE_ROOM = 1.5;

/** This PC's part of a group deploy: the index-th of `count` equal slices of the pieces. */
export interface Share {
  index: number;
  count: number;
  /**
   * Its part of its room (its /24), given by the portal once it knows where every PC of the group
   * is: the index-th of `count` equal slices, `count` being the room's PCs in the group. The only
   * pieces it asks PCs of other rooms for (room parts, above).
   */
  room?: { index: number; count: number };
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

/** The missing pieces as ranges in the order of `walk`'s [from, to) segments (`pieceWalk`). */
export function walkRanges(held: boolean[], walk: ReadonlyArray<readonly [number, number]>): Array<[number, number]> {
  return walk.flatMap(([a, b]) => missingRanges(held.slice(a, b)).map(([x, y]): [number, number] => [x + a, y + a]));
}

export const isStorage = (w: Wire): boolean => w.type === 'webSeed' || isSeederPeerId(w.peerId);

/**
 * Whether the storage nodes can send more than a group's shares: this PC's share came at
 * `shareRate` while the nodes sent each of the `groupSize` PCs its share at once, so together they
 * sent about `shareRate` × `groupSize`. A server of NODE_ROOM times a PC's `best` rate or more has
 * room; one no faster than a PC (1 GbE server and PCs, or bench:swarm) has not.
 */
export function nodesHaveRoom(shareRate: number, groupSize: number, best: number): boolean {
  return best > 0 && shareRate * groupSize >= NODE_ROOM * best;
}

/**
 * Whether a PC of this PC's room (`inRoom`), other than `asked` and not choking this one, holds
 * piece `index`: then the room-first rule keeps `asked`, a PC outside the room, from being asked
 * for it.
 */
export function roomHolds<W extends Wire>(wires: readonly W[], asked: W, index: number, inRoom: (w: W) => boolean): boolean {
  return wires.some((w) => w !== asked && !w.peerChoking && inRoom(w) && w.peerPieces.get(index));
}

/**
 * The order a PC walks the pieces in, as [from, to) segments: its room part from `start` (the
 * start of its share, or the part's own start when the share lies outside it), the part before
 * `start`, then the rest of the image from the part's end round. Without a part (one room) that is
 * the whole image from `start` round to just before it.
 */
export function pieceWalk(pieces: number, start: number, part: [number, number] = [0, pieces]): Array<[number, number]> {
  const [a, b] = part;
  const s = start >= a && start < b ? start : a;
  return [
    [s, b],
    [a, s],
    [b, pieces],
    [0, a],
  ];
}

export interface PieceOrder {
  stop(): void;
  /** Pieces asked of a storage node because this PC had room to spare. */
  extraPieces(): number;
  /** What the last room-to-spare check saw, for the swarm trace. */
  feed(): { underfed: boolean; lateMs: number; shareRate: number; roomToSpare: boolean };
}

/** Selects the pieces not held in this PC's order and spares the storage nodes. */
export function applyPieceOrder(torrent: Torrent, held: boolean[], share?: Share, ownAddress: string = lanAddress()): PieceOrder {
  const t = torrentInternals<NodeWire>(torrent);
  const [from, to] = shareRange(share, held.length);
  const shared = !!share && share.count > 1;
  const start = shared ? from : Math.floor(Math.random() * held.length);
  const [partFrom, partTo] = shareRange(share?.room, held.length);
  const walk = pieceWalk(held.length, start, [partFrom, partTo]);
  const order = walk.flatMap(([a, b]) => Array.from({ length: b - a }, (_, k) => a + k));
  const inPart = (i: number): boolean => i >= partFrom && i < partTo;
  // With PCs of the group in other rooms, extras come from this PC's room part only.
  const partExtras = !!share?.room && share.room.count < share.count;
  let lastFromPeersAt = Date.now();
  // Whether a PC has fed this one lately, read once per pass over the wires rather than for each
  // piece webtorrent offers a node (every missing piece, on every pass).
  let starving = false;
  const got = [...held];
  let shareLeft = 0;
  for (let i = from; i < to; i++) if (!got[i]) shareLeft++;
  const extras = new Set<number>();
  let extrasAsked = 0;
  const meter = feedMeter(() => t.downloaded, Date.now, samplerLateness(NUDGE_MS));
  // What the PCs alone send this PC, against the best of everything: while a node sends extras the
  // link is full, and a rule on the total stopped them until the rate fell again (2 s on, 2 s off
  // in the lab's trace; lab N = 16 27.6 and 28.2 s against 29.6 and 30.2, N = 4 24.4 s twice
  // against 26.8).
  let fromPcs = 0;
  const pcMeter = feedMeter(
    () => fromPcs,
    Date.now,
    () => 0,
  );
  let roomToSpare = false;
  let underfed = false;
  // The nodes' rate while sending this PC its share: from their first byte to the share's last piece.
  let shareBytes = 0;
  let shareFirstAt = 0;
  let shareRate = 0;
  torrent.on('verified', (index: number) => {
    extras.delete(index);
    if (got[index]) return;
    got[index] = true;
    if (index >= from && index < to && --shareLeft === 0 && shareFirstAt) {
      shareRate = (shareBytes * 1000) / Math.max(1, Date.now() - shareFirstAt);
    }
  });
  const storage = new WeakMap<Wire, boolean>();
  const fromStorage = (w: Wire): boolean => {
    let is = storage.get(w);
    if (is === undefined && w.peerId !== undefined) storage.set(w, (is = isStorage(w)));
    return is ?? isStorage(w);
  };
  const ownRoom = subnetOf(ownAddress);
  const room = new WeakMap<Wire, boolean>();
  /** A PC wire of this PC's room; storage nodes are left to the rules above, wherever they are. */
  const inRoom = (w: Wire): boolean => {
    let is = room.get(w);
    if (is === undefined && w.remoteAddress) room.set(w, (is = subnetOf(w.remoteAddress) === ownRoom));
    return !fromStorage(w) && (is ?? false);
  };
  torrent.on('wire', (wire: NodeWire & { on(e: 'download', f: (bytes: number) => void): void }) => {
    wire.on('download', (bytes) => {
      if (!fromStorage(wire)) {
        lastFromPeersAt = Date.now();
        fromPcs += bytes;
      } else if (shareLeft > 0) {
        shareFirstAt ||= Date.now();
        shareBytes += bytes;
      }
    });
    // webtorrent keeps a wire's requests in flight in line with its recent rate (one block, then a
    // few): a node idle since the shares were in would take seconds to send an extra piece at
    // the link's rate. While extras are out, count the node as fast as this PC's best.
    // Only node wires: webtorrent reads every wire's speed on every pass.
    if (wire.type === 'webSeed' || !fromStorage(wire) || typeof wire.downloadSpeed !== 'function') return;
    const speed = wire.downloadSpeed.bind(wire);
    wire.downloadSpeed = (bytes?: number) => {
      if (bytes !== undefined) return speed(bytes);
      return extras.size ? Math.max(speed(), meter.best()) : speed();
    };
  });
  const request = t._request.bind(torrent);
  // What a node can be asked for, best first: a piece nobody is sending yet, then the blocks of a
  // piece that PCs have begun but not yet asked for in full (webtorrent asks a wire for a few
  // blocks at a time, so late in a deploy every missing piece is begun by some PC while most of
  // its blocks wait, and the node had nothing left to send).
  const pickExtra = (node: Wire): number => {
    let begun = -1;
    for (let k = order.length - 1; k >= 0; k--) {
      const i = order[k]!;
      const p = t.pieces[i];
      if (got[i] || extras.has(i) || !p || !node.peerPieces.get(i) || (partExtras && !inPart(i))) continue;
      if (p._reservations === 0) return i;
      if (begun < 0 && (p._reservations < p._chunks || p._cancellations?.length)) begun = i;
    }
    return begun;
  };
  const feedExtras = (): void => {
    if (!extras.size && !roomToSpare) return;
    const node = t.wires.find((w): w is NodeWire => fromStorage(w) && w.type !== 'webSeed' && !w.peerChoking && !w.destroyed);
    if (!node) return;
    while (roomToSpare && extras.size < EXTRA_PIECES) {
      const i = pickExtra(node);
      if (i < 0) break;
      extras.add(i);
      extrasAsked++;
    }
    for (const i of extras) while (request(node, i, false));
  };
  t._request = (wire, index, hotswap) => {
    if (fromStorage(wire)) {
      if (extras.has(index)) return request(wire, index, hotswap);
      const mine = index >= from && index < to;
      if (!mine && !starving) return false;
      if (t.wires.some((w) => w !== wire && !fromStorage(w) && !w.peerChoking && w.peerPieces.get(index))) return false;
    } else if (!starving && !underfed && wire.remoteAddress && !inRoom(wire) && (!inPart(index) || roomHolds(t.wires, wire, index, inRoom))) {
      return false;
    }
    return request(wire, index, hotswap);
  };
  // webtorrent offers a node every missing piece on every pass; once this PC's share is in and
  // PCs are feeding it, the node gets none of them, so the pass skips it. Extra pieces are asked
  // for by feedExtras instead: they sit at the far end of the order, and a pass would walk every
  // missing piece to reach them (50,000 for a 50 GiB image) each turn of the event loop.
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
      feedExtras();
    });
  };
  // Priority 0 for all: webtorrent keeps equal priorities in the order given.
  for (const [from, to] of walkRanges(held, walk)) t._select(from, to, 0, undefined, true);
  const nudge = setInterval(() => {
    meter.sample();
    pcMeter.sample();
    underfed = meter.underfed(pcMeter.current());
    roomToSpare = shared && shareLeft <= 0 && nodesHaveRoom(shareRate, share.count, meter.best()) && underfed && !meter.lagging();
    if (!t.destroyed) t._update();
  }, NUDGE_MS).unref();
  return {
    stop: () => {
      clearInterval(nudge);
    },
    extraPieces: () => extrasAsked,
    feed: () => ({ underfed, lateMs: Math.round(meter.lateMs() * 10) / 10, shareRate: Math.round(shareRate), roomToSpare }),
  };
}
