/**
 * A discrete-event model of a Shoal swarm, for labs larger than the simulator can run: PCs fetch
 * pieces by the real rules (piece-policy.ts) over links of fixed capacity (topology.ts), the
 * transfers sharing links max-min fairly (max-min.ts) as TCP connections do on average.
 *
 * A transfer is one connection (source → PC) carrying the pieces the PC asked of that source, one
 * after another. As webtorrent does on each wire, a PC asks every connected source for the first
 * pieces in its order that the source holds and nobody else is sending it, keeping PIPELINE_S of
 * that connection's rate asked for (at least one piece); the server only for what the rules allow.
 * Events: a PC starts, announces, connects; a piece arrives; every NUDGE_S the PCs' rate meters
 * and room-to-spare rule run (as piece-order.ts's timer does); rates are recomputed when
 * connections start or stop, at most every `rebalanceS` (a new connection runs on whatever its
 * links have left until then, so no link is ever over its capacity).
 * A piece is asked whole; a wire with nothing else to ask for takes what is left of a piece begun
 * on another wire beyond that wire's PIPELINE_S (webtorrent reserves blocks, not pieces).
 * Left out: CPU (a lab PC has its own), disk writes, TCP's own dynamics (slow start, losses at a
 * shaper's queue: the fair share is what TCP gets on average), choking (Shoal unchokes everyone),
 * the event loop's lateness check.
 */
import { maxMinRates, type FlowPath } from './max-min.js';
import { mulberry32, type Random } from './prng.js';
import { SERVER, buildTopology, framingCost, mathisBytesPerS, type Scenario, type Topology } from './topology.js';
import * as policy from './piece-policy.js';

export interface ModelResult {
  scenario: Scenario;
  seed: number;
  /** Seconds from the group's start until each PC held every piece. */
  pcSeconds: number[];
  lastSeconds: number;
  /** DESIGN.md's bound, max(S/B, N·S/(U + N·B_up)), B the slowest PC's link. */
  boundSeconds: number;
  /** lastSeconds / boundSeconds. */
  ratio: number;
  /** The worst PC against its own bound (its own link in place of the slowest). */
  worstOwnRatio: number;
  /** The full-rate PCs (neither slow nor lossy): the last of them against S/B of their link. */
  fullRateRatio: number;
  /** What the server sent, in images. */
  seederUploadImages: number;
  slowestPc: number;
  /** Of the bytes PCs sent each other, the share that stayed inside a room (NaN without rooms). */
  inRoomShare: number;
  /** The highest load any link carried, as a share of its capacity. */
  peakLinkLoad: number;
  /** Pieces each PC received, all equal to the image's pieces when the run is sound. */
  piecesReceived: number[];
  events: number;
  /** Pieces PCs asked of the server because they had room to spare. */
  extraPieces: number;
}

export interface ModelOptions {
  seed?: number;
  /** Longest wait before rates follow a change of connections; default a tenth of a piece's time on a PC's link. */
  rebalanceS?: number;
  /** Gives up (an error) past this many times the bound. */
  maxBounds?: number;
  /** The room rules (piece-policy.ts ROOM_FIRST: room first, room parts); off only to measure what they change. */
  roomFirst?: boolean;
  /** Shares dealt round the rooms (shared/swarm/room-shares.ts); false: in PC order, as before. */
  roomShares?: boolean;
  /** Room parts (shared/swarm/room-shares.ts `roomParts`): PCs of other rooms asked only for the PC's part; false: as before. */
  roomParts?: boolean;
  /** Called for every piece a PC receives (tracing a run). */
  onPiece?: (pc: number, piece: number, from: number, seconds: number) => void;
}

interface Flow extends FlowPath {
  links: number[];
  weights: number[];
  id: number;
  src: number;
  dst: number;
  queue: number[];
  /** Bytes of each queued piece this connection carries (a piece split with the server carries less). */
  sizes: number[];
  remaining: number;
  rate: number;
  last: number;
  stamp: number;
  alive: boolean;
  cross: boolean;
}

interface Pc {
  node: number;
  started: boolean;
  doneAt: number;
  from: number;
  to: number;
  /** The PC's room part: the pieces it may ask PCs of other rooms for. */
  partFrom: number;
  partTo: number;
  /** Whether the group reaches beyond its room: then extras come from its part only (piece-order.ts). */
  partExtras: boolean;
  /** Its order: the part from `start`, the part before `start`, then the rest (piece-order.ts `pieceWalk`). */
  walk: Array<[number, number]>;
  start: number;
  held: Uint32Array;
  heldCount: number;
  inflight: Uint32Array;
  inflightCount: number;
  avail: Uint16Array;
  availNZ: Uint32Array;
  /** The same, counting only connected PCs of this PC's room (the in-room rule, piece-policy.ts). */
  roomAvail: Uint16Array;
  roomAvailNZ: Uint32Array;
  conns: number[];
  dialing: number;
  serverConn: boolean;
  inflows: Map<number, Flow>;
  shareLeft: number;
  shareBytes: number;
  shareFirstAt: number;
  shareRate: number;
  lastFromPeersAt: number;
  pcBytesAtNudge: number;
  starving: boolean;
  /** Whether the room rules are off for now (starving, or underfed with RELAX set). */
  roomFree: boolean;
  roomToSpare: boolean;
  bytesTotal: number;
  bytesFromPcs: number;
  samples: Array<{ t: number; total: number; pcs: number }>;
  best: number;
  pcCurrent: number;
  extras: Set<number>;
  received: number;
  lossy: boolean;
}

const enum Ev {
  Start,
  Announce,
  Connect,
  FlowDone,
  Rebalance,
  Nudge,
}

interface Event {
  t: number;
  seq: number;
  kind: Ev;
  a: number;
  b: number;
}

class EventHeap {
  items: Event[] = [];
  private seq = 0;
  push(t: number, kind: Ev, a = 0, b = 0): void {
    const e = { t, seq: this.seq++, kind, a, b };
    const h = this.items;
    let i = h.length;
    h.push(e);
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!before(e, h[p]!)) break;
      h[i] = h[p]!;
      i = p;
    }
    h[i] = e;
  }
  pop(): Event | undefined {
    const h = this.items;
    const top = h[0];
    const last = h.pop();
    if (!top || !last || !h.length) return top;
    let i = 0;
    for (;;) {
      let c = 2 * i + 1;
      if (c >= h.length) break;
      if (c + 1 < h.length && before(h[c + 1]!, h[c]!)) c++;
      if (!before(h[c]!, last)) break;
      h[i] = h[c]!;
      i = c;
    }
    h[i] = last;
    return top;
  }
  /** Drops the entries `keep` refuses and rebuilds the heap. */
  compact(keep: (e: Event) => boolean): void {
    const live = this.items.filter(keep).sort((x, y) => (before(x, y) ? -1 : 1));
    this.items = live; // a sorted array is a heap
  }
}
const before = (x: Event, y: Event): boolean => x.t < y.t || (x.t === y.t && x.seq < y.seq);

const ALL = 0xffffffff;

/** Runs the model once; throws if the swarm stalls. */
export function runSwarmModel(scenario: Scenario, opts: ModelOptions = {}): ModelResult {
  const seed = opts.seed ?? 1;
  const random: Random = mulberry32(seed);
  const topo: Topology = buildTopology(scenario);
  const blockBytes = policy.swarmBlockBytes(scenario.pieceBytes);
  const cost = framingCost(scenario.framing, blockBytes);
  const N = scenario.pcs;
  const P = Math.ceil(scenario.imageBytes / scenario.pieceBytes);
  const WORDS = Math.ceil(P / 32);
  const pieceSize = (i: number): number => (i < P - 1 ? scenario.pieceBytes : scenario.imageBytes - (P - 1) * scenario.pieceBytes);
  const pcLinkPayload = (scenario.pcMbitPerS * 1e6) / 8 / cost.data;
  const rebalanceS = opts.rebalanceS ?? scenario.pieceBytes / pcLinkPayload / 10;
  const lossy = new Set(scenario.lossyPcs);
  const lossShare = scenario.lossPercent / 100;
  const mathis = lossShare > 0 ? mathisBytesPerS(lossShare, scenario.lossRttS) : Infinity;

  // Capacities as the max-min sees them: a lossy PC's downlink carries what its connections' TCP
  // can (Mathis, per connection) and loses `lossShare` of it to retransmissions.
  const capNow = Float64Array.from(topo.capacity);
  const used = new Float64Array(topo.capacity.length);
  const outCount = new Int32Array(topo.nodes);
  const roomLinkFlows = new Int32Array(topo.capacity.length);
  const sent = new Float64Array(topo.nodes);
  let peakLinkLoad = 0;

  const pcs: Pc[] = [];
  const shareOf =
    opts.roomShares === false ? Array.from({ length: N }, (_, k) => k) : policy.sharesByRoom(Array.from({ length: N }, (_, k) => String(topo.roomOf[k + 1])));
  const roomFirst = opts.roomFirst ?? policy.ROOM_FIRST;
  const partOf =
    opts.roomParts === false ? Array.from({ length: N }, () => undefined) : policy.roomParts(Array.from({ length: N }, (_, k) => String(topo.roomOf[k + 1])));
  for (let k = 0; k < N; k++) {
    const [from, to] = policy.shareRange({ index: shareOf[k]!, count: N }, P);
    const [partFrom, partTo] = policy.shareRange(partOf[k], P);
    const start = N > 1 ? from : Math.floor(random() * P);
    const held = new Uint32Array(WORDS);
    // Bits past the last piece count as held, so that scans need no bounds.
    for (let i = P; i < WORDS * 32; i++) held[i >> 5]! |= 1 << (i & 31);
    pcs.push({
      node: k + 1,
      started: false,
      doneAt: -1,
      from,
      to,
      partFrom,
      partTo,
      walk: policy.pieceWalk(P, start, [partFrom, partTo]),
      partExtras: roomFirst && (partOf[k]?.count ?? N) < N,
      start,
      held,
      heldCount: 0,
      inflight: new Uint32Array(WORDS),
      inflightCount: 0,
      avail: new Uint16Array(P),
      availNZ: new Uint32Array(WORDS),
      roomAvail: new Uint16Array(P),
      roomAvailNZ: new Uint32Array(WORDS),
      conns: [],
      dialing: 0,
      serverConn: false,
      inflows: new Map(),
      shareLeft: to - from,
      shareBytes: 0,
      shareFirstAt: 0,
      shareRate: 0,
      lastFromPeersAt: 0,
      pcBytesAtNudge: 0,
      starving: false,
      roomFree: false,
      roomToSpare: false,
      bytesTotal: 0,
      bytesFromPcs: 0,
      samples: [],
      best: 0,
      pcCurrent: 0,
      extras: new Set(),
      received: 0,
      lossy: lossy.has(k),
    });
  }
  const pcOf = (node: number): Pc => pcs[node - 1]!;
  const has = (bits: Uint32Array, i: number): boolean => (bits[i >> 5]! & (1 << (i & 31))) !== 0;
  const set = (bits: Uint32Array, i: number): void => void (bits[i >> 5]! |= 1 << (i & 31));
  const clear = (bits: Uint32Array, i: number): void => void (bits[i >> 5]! &= ~(1 << (i & 31)));

  const adjacency = new Uint8Array(topo.nodes * topo.nodes);
  const events = new EventHeap();
  let now = 0;
  let eventCount = 0;
  let done = 0;
  let extraPieces = 0;
  let inRoomBytes = 0;
  let crossRoomBytes = 0;

  const flows: Flow[] = [];
  const liveFlows = new Set<Flow>();
  let rebalancePending = false;
  const requestRebalance = (): void => {
    if (rebalancePending) return;
    rebalancePending = true;
    events.push(now + rebalanceS, Ev.Rebalance);
  };

  const pathOf = (src: number, dst: number): { links: number[]; weights: number[]; cross: boolean } => {
    const links = [topo.up(src), topo.down(dst), topo.down(src), topo.up(dst)];
    const weights = [cost.data, cost.data, cost.ack, cost.ack];
    const rs = topo.roomOf[src]!;
    const rd = topo.roomOf[dst]!;
    const cross = rs !== rd && topo.rooms > 0;
    if (cross) {
      if (rs >= 0) links.push(topo.roomOut(rs), topo.roomIn(rs));
      if (rd >= 0) links.push(topo.roomIn(rd), topo.roomOut(rd));
      if (rs >= 0) weights.push(cost.data, cost.ack);
      if (rd >= 0) weights.push(cost.data, cost.ack);
    }
    return { links, weights, cross };
  };

  const load = (f: Flow, sign: number): void => {
    for (let k = 0; k < f.links.length; k++) {
      const l = f.links[k]!;
      used[l]! += sign * f.weights[k]! * f.rate;
      if (sign > 0 && capNow[l]! > 0) peakLinkLoad = Math.max(peakLinkLoad, used[l]! / topo.capacity[l]!);
    }
  };

  const account = (f: Flow, bytes: number): void => {
    const pc = pcOf(f.dst);
    pc.bytesTotal += bytes;
    sent[f.src]! += bytes;
    if (f.src === SERVER) {
      if (pc.shareLeft > 0) pc.shareBytes += bytes;
    } else {
      pc.bytesFromPcs += bytes;
      if (f.cross) crossRoomBytes += bytes;
      else inRoomBytes += bytes;
    }
  };

  const settle = (f: Flow): void => {
    const dt = now - f.last;
    f.last = now;
    if (dt <= 0 || f.rate <= 0) return;
    const bytes = Math.min(f.remaining, f.rate * dt);
    f.remaining -= bytes;
    account(f, bytes);
  };

  const schedule = (f: Flow): void => {
    f.stamp++;
    if (f.rate > 0) events.push(now + f.remaining / f.rate, Ev.FlowDone, f.id, f.stamp);
  };

  const startFlow = (pc: Pc, src: number, piece: number, bytes: number): Flow => {
    const { links, weights, cross } = pathOf(src, pc.node);
    const f: Flow = {
      id: flows.length,
      src,
      dst: pc.node,
      queue: [piece],
      sizes: [bytes],
      remaining: bytes,
      rate: 0,
      last: now,
      stamp: 0,
      alive: true,
      cross,
      links,
      weights,
    };
    flows.push(f);
    liveFlows.add(f);
    pc.inflows.set(src, f);
    outCount[src]!++;
    for (const l of links) if (l >= 2 * topo.nodes) roomLinkFlows[l]!++;
    // Until the next rebalance, whatever its links have left.
    let rate = Infinity;
    for (let k = 0; k < links.length; k++) rate = Math.min(rate, Math.max(0, capNow[links[k]!]! - used[links[k]!]!) / weights[k]!);
    f.rate = Number.isFinite(rate) ? rate * 0.999 : 0;
    load(f, 1);
    schedule(f);
    requestRebalance();
    return f;
  };

  const endFlow = (f: Flow): void => {
    load(f, -1);
    f.alive = false;
    liveFlows.delete(f);
    pcOf(f.dst).inflows.delete(f.src);
    outCount[f.src]!--;
    for (const l of f.links) if (l >= 2 * topo.nodes) roomLinkFlows[l]!--;
    requestRebalance();
  };

  const ask = (pc: Pc, piece: number, src: number, bytes = pieceSize(piece)): void => {
    set(pc.inflight, piece);
    pc.inflightCount++;
    if (src === SERVER && pc.shareLeft > 0 && !pc.shareFirstAt) pc.shareFirstAt = now;
    const f = pc.inflows.get(src);
    if (f) {
      f.queue.push(piece);
      f.sizes.push(bytes);
    } else startFlow(pc, src, piece, bytes);
  };
  /** Pieces coming in two parts (a PC's requested blocks and the server's rest): parts still due, by pc·P + piece. */
  const partsDue = new Map<number, number>();

  const rangeWord = (from: number, to: number, w: number): number => {
    const lo = Math.max(from, w * 32);
    const hi = Math.min(to, w * 32 + 32);
    if (hi <= lo) return 0;
    const width = hi - lo;
    const bits = width >= 32 ? ALL : ((1 << width) - 1) >>> 0;
    return (bits << (lo - w * 32)) >>> 0;
  };
  const shareWord = (pc: Pc, w: number): number => rangeWord(pc.from, pc.to, w);
  const inPart = (pc: Pc, i: number): boolean => i >= pc.partFrom && i < pc.partTo;

  /** Pieces this PC may ask the server for now (piece-order.ts's `_request` for a storage wire), one word. */
  const serverWord = (pc: Pc, w: number): number => {
    const allowed = pc.starving ? ALL : shareWord(pc, w);
    return (allowed & ~pc.availNZ[w]! & ~pc.held[w]! & ~pc.inflight[w]!) >>> 0;
  };
  /** Pieces this PC may ask PC `src` for, one word; `src` is set before each scan. */
  let src = 0;
  let srcCross = false;
  const peerWord = (pc: Pc, w: number): number =>
    (pcOf(src).held[w]! & ~pc.held[w]! & ~pc.inflight[w]! & (srcCross ? ~pc.roomAvailNZ[w]! & rangeWord(pc.partFrom, pc.partTo, w) : ALL)) >>> 0;
  /** Whether `a` and `b` sit in different rooms: one of them outside the other's /24. */
  const crossRoom = (a: number, b: number): boolean => topo.rooms > 0 && topo.roomOf[a] !== topo.roomOf[b];

  /** The first piece in [a, b) whose bit `word` gives, or -1. */
  const firstIn = (pc: Pc, a: number, b: number, word: (pc: Pc, w: number) => number): number => {
    for (let w = a >> 5; w * 32 < b; w++) {
      let bits = word(pc, w);
      if (w === a >> 5) bits &= (ALL << (a & 31)) >>> 0;
      if (!bits) continue;
      const i = w * 32 + (31 - Math.clz32(bits & -bits));
      return i < b ? i : -1;
    }
    return -1;
  };
  /** The last piece in [a, b) whose bit `word` gives, or -1. */
  const lastIn = (pc: Pc, a: number, b: number, word: (pc: Pc, w: number) => number): number => {
    if (b <= a) return -1;
    for (let w = (b - 1) >> 5; w >= a >> 5; w--) {
      let bits = word(pc, w);
      if (w === (b - 1) >> 5 && ((b - 1) & 31) < 31) bits &= ((1 << (((b - 1) & 31) + 1)) - 1) >>> 0;
      if (!bits) continue;
      const i = w * 32 + 31 - Math.clz32(bits);
      return i >= a ? i : -1;
    }
    return -1;
  };

  /** The first piece in this PC's order that it may ask `from` for, or -1 (webtorrent's pass over a wire). */
  const nextPiece = (pc: Pc, from: number): number => {
    src = from;
    srcCross = roomFirst && from !== SERVER && !pc.roomFree && crossRoom(pc.node, from);
    const word = from === SERVER ? serverWord : peerWord;
    for (const [a, b] of pc.walk) {
      const i = firstIn(pc, a, b, word);
      if (i >= 0) return i;
    }
    return -1;
  };

  /** Pieces a wire keeps asked for: PIPELINE_S of its rate, at least one (piece-policy.ts). */
  const depthOf = (f: Flow | undefined): number => (f ? Math.max(1, Math.ceil((policy.PIPELINE_S * f.rate) / scenario.pieceBytes)) : 1);

  /** Tops up the requests on the wire from `from`, as webtorrent's _updateWire does. */
  const fillWire = (pc: Pc, from: number): void => {
    if (!pc.started || pc.doneAt >= 0) return;
    for (;;) {
      const f = pc.inflows.get(from);
      if (f && f.queue.length - extrasIn(pc, f) >= depthOf(f)) return;
      const i = nextPiece(pc, from);
      if (i >= 0) ask(pc, i, from);
      else if ((f && f.queue.length) || !takeBlocks(pc, from)) return;
    }
  };
  /**
   * webtorrent reserves a piece block by block, a wire's pipeline deep: what a slow wire was given
   * beyond its PIPELINE_S (the rest of the piece it has begun, and whole pieces queued behind it)
   * is free for any other wire that holds it. An idle wire from `from` takes the most of that it
   * can find, as the server does with extras; `false` when there is none.
   */
  const takeBlocks = (pc: Pc, from: number): boolean => {
    if (from === SERVER) return false;
    const holder = pcOf(from);
    const cross = roomFirst && !pc.roomFree && crossRoom(pc.node, from);
    let best: { f: Flow; q: number; bytes: number } | undefined;
    for (const f of pc.inflows.values()) {
      if (f.src === SERVER || f.src === from || !f.queue.length) continue;
      settle(f);
      let reserved = policy.PIPELINE_S * f.rate + blockBytes;
      for (let q = 0; q < f.queue.length; q++) {
        const size = q === 0 ? f.remaining : f.sizes[q]!;
        const free = q === 0 ? size - reserved : reserved > 0 ? 0 : size;
        reserved -= size;
        const piece = f.queue[q]!;
        if (free <= blockBytes || (best && free <= best.bytes)) continue;
        if (!has(holder.held, piece) || (cross && (has(pc.roomAvailNZ, piece) || !inPart(pc, piece)))) continue;
        best = { f, q, bytes: free };
      }
    }
    if (!best) return false;
    const { f, q, bytes } = best;
    const piece = f.queue[q]!;
    if (q === 0) {
      f.remaining -= bytes;
      schedule(f);
      const key = (pc.node - 1) * P + piece;
      partsDue.set(key, (partsDue.get(key) ?? 1) + 1);
    } else {
      f.queue.splice(q, 1);
      f.sizes.splice(q, 1);
    }
    pc.inflightCount--;
    ask(pc, piece, from, bytes);
    return true;
  };
  const extrasIn = (pc: Pc, f: Flow): number => (f.src === SERVER ? pc.extras.size : 0);
  const fill = (pc: Pc): void => {
    for (const c of pc.conns) fillWire(pc, c);
  };

  const notInFlightWord = (pc: Pc, w: number): number => (~pc.held[w]! & ~pc.inflight[w]!) >>> 0;
  const feedExtras = (pc: Pc): void => {
    if (!pc.serverConn || pc.doneAt >= 0) return;
    while (pc.roomToSpare && pc.extras.size < policy.EXTRA_PIECES) {
      // From the far end of its order (of its room part, with partExtras), going back.
      let i = -1;
      const segments = pc.partExtras ? pc.walk.slice(0, 2) : pc.walk;
      for (let k = segments.length - 1; k >= 0 && i < 0; k--) i = lastIn(pc, segments[k]![0], segments[k]![1], notInFlightWord);
      if (i >= 0) {
        pc.extras.add(i);
        extraPieces++;
        ask(pc, i, SERVER);
        continue;
      }
      // Every missing piece is asked of someone. Webtorrent asks a wire for 0.5-1 s of its rate at a
      // time, so a queued piece no block of which was asked yet goes to the server whole; else the
      // blocks of a begun piece beyond what the PC has asked for (pickExtra in piece-order.ts).
      let best: { f: Flow; q: number; at: number } | undefined;
      let begun: { f: Flow; at: number } | undefined;
      for (const f of pc.inflows.values()) {
        if (f.src === SERVER) continue;
        for (let q = 1; q < f.queue.length; q++) {
          if (pc.partExtras && !inPart(pc, f.queue[q]!)) continue;
          const at = (f.queue[q]! - pc.start + P) % P;
          if (!best || at > best.at) best = { f, q, at };
        }
        settle(f);
        const key = (pc.node - 1) * P + f.queue[0]!;
        if (!partsDue.has(key) && (!pc.partExtras || inPart(pc, f.queue[0]!)) && f.remaining > policy.PIPELINE_S * f.rate + blockBytes) {
          const at = (f.queue[0]! - pc.start + P) % P;
          if (!begun || at > begun.at) begun = { f, at };
        }
      }
      if (best) {
        const [piece] = best.f.queue.splice(best.q, 1);
        const [bytes] = best.f.sizes.splice(best.q, 1);
        pc.extras.add(piece!);
        extraPieces++;
        pc.inflightCount--;
        ask(pc, piece!, SERVER, bytes);
      } else if (begun) {
        const f = begun.f;
        const piece = f.queue[0]!;
        const asked = policy.PIPELINE_S * f.rate;
        const rest = f.remaining - asked;
        f.remaining = asked;
        schedule(f);
        partsDue.set((pc.node - 1) * P + piece, (partsDue.get((pc.node - 1) * P + piece) ?? 1) + 1);
        pc.extras.add(piece);
        extraPieces++;
        pc.inflightCount--;
        ask(pc, piece, SERVER, rest);
      } else return;
    }
  };

  const receive = (pc: Pc, piece: number, src: number): void => {
    clear(pc.inflight, piece);
    pc.inflightCount--;
    if (has(pc.held, piece)) throw new Error(`model: PC ${pc.node - 1} got piece ${piece} twice`);
    set(pc.held, piece);
    pc.heldCount++;
    pc.received++;
    pc.extras.delete(piece);
    if (src !== SERVER) pc.lastFromPeersAt = now;
    opts.onPiece?.(pc.node - 1, piece, src - 1, now);
    if (piece >= pc.from && piece < pc.to && --pc.shareLeft === 0 && pc.shareFirstAt) {
      pc.shareRate = pc.shareBytes / Math.max(1e-3, now - pc.shareFirstAt);
    }
    if (pc.heldCount === P) {
      pc.doneAt = now;
      done++;
      tracked.get(pc.node)!.complete = true;
    }
    for (const c of pc.conns) {
      if (c === SERVER) continue;
      const other = pcOf(c);
      if (other.avail[piece]!++ === 0) set(other.availNZ, piece);
      if (!crossRoom(c, pc.node) && other.roomAvail[piece]!++ === 0) set(other.roomAvailNZ, piece);
      if (!other.started || other.doneAt >= 0 || has(other.held, piece) || has(other.inflight, piece)) continue;
      if (roomFirst && !other.roomFree && crossRoom(c, pc.node) && (has(other.roomAvailNZ, piece) || !inPart(other, piece))) continue;
      // A wire with no requests had nothing this PC wanted, so this piece is the first it may ask for.
      if (!other.inflows.has(pc.node)) ask(other, piece, pc.node);
    }
  };

  const connect = (a: number, b: number): void => {
    if (a === b || adjacency[a * topo.nodes + b]) return;
    adjacency[a * topo.nodes + b] = adjacency[b * topo.nodes + a] = 1;
    for (const [x, y] of [
      [a, b],
      [b, a],
    ] as const) {
      if (x === SERVER) continue;
      const pc = pcOf(x);
      pc.conns.push(y);
      if (y === SERVER) pc.serverConn = true;
      else {
        const other = pcOf(y);
        for (let w = 0; w < WORDS; w++) {
          let bits = other.held[w]!;
          while (bits) {
            const i = w * 32 + (31 - Math.clz32(bits & -bits));
            bits &= bits - 1;
            if (i >= P) continue;
            if (pc.avail[i]!++ === 0) set(pc.availNZ, i);
            if (!crossRoom(x, y) && pc.roomAvail[i]!++ === 0) set(pc.roomAvailNZ, i);
          }
        }
      }
    }
    for (const n of [a, b]) if (n !== SERVER) fill(pcOf(n));
  };

  // The tracker's view: every announced peer, the server from the start (it seeds).
  const tracked = new Map<number, { ip: string; port: number; peerId: string; complete: boolean; node: number }>();
  tracked.set(SERVER, { ip: topo.ip[SERVER]!, port: 6881, peerId: 'server', complete: true, node: SERVER });

  const announce = (pc: Pc): void => {
    if (!tracked.has(pc.node)) tracked.set(pc.node, { ip: topo.ip[pc.node]!, port: 6881, peerId: `pc${pc.node}`, complete: false, node: pc.node });
    // A PC with its connections full would only queue the answer (webtorrent dials no more than
    // MAX_CONNS, and in the model no connection closes), so the tracker is not asked.
    const full = pc.conns.length + pc.dialing >= policy.MAX_CONNS;
    const peers = full ? [] : policy.orderPeers(tracked.values(), { ip: topo.ip[pc.node]!, peerId: `pc${pc.node}` }, policy.NUMWANT, random);
    for (const p of peers) {
      if (adjacency[pc.node * topo.nodes + p.node]) continue;
      if (pc.conns.length + pc.dialing >= policy.MAX_CONNS) break;
      pc.dialing++;
      events.push(now + scenario.connectS, Ev.Connect, pc.node, p.node);
    }
    if (done < N) events.push(now + policy.ANNOUNCE_INTERVAL_S, Ev.Announce, pc.node);
  };

  const nudge = (): void => {
    for (const pc of pcs) {
      if (!pc.started || pc.doneAt >= 0) continue;
      for (const f of pc.inflows.values()) settle(f);
      if (pc.bytesFromPcs > pc.pcBytesAtNudge) pc.lastFromPeersAt = now;
      pc.pcBytesAtNudge = pc.bytesFromPcs;
      pc.samples.push({ t: now, total: pc.bytesTotal, pcs: pc.bytesFromPcs });
      while (pc.samples.length > 1 && now - pc.samples[1]!.t >= policy.RATE_WINDOW_S - 1e-9) pc.samples.shift();
      const first = pc.samples[0]!;
      if (now - first.t >= policy.RATE_WINDOW_S - 1e-9) {
        const current = (pc.bytesTotal - first.total) / (now - first.t);
        pc.pcCurrent = (pc.bytesFromPcs - first.pcs) / (now - first.t);
        pc.best = Math.max(pc.best, current);
      }
      const wasStarving = pc.starving;
      pc.starving = now - pc.lastFromPeersAt >= policy.STARVING_S;
      const underfed = pc.best > 0 && pc.pcCurrent < policy.UNDERFED_SHARE * pc.best;
      pc.roomToSpare = N > 1 && pc.shareLeft <= 0 && policy.nodesHaveRoom(pc.shareRate, N, pc.best) && underfed;
      pc.roomFree = pc.starving || underfed;
      // piece-order.ts's timer runs webtorrent's pass over every wire (_update) every NUDGE_MS. The
      // model leaves a PC's wires to the events that change them, except where the room rules have
      // just let go of it (filling every PC's wires on every nudge: lab N = 32 +0.8 % and +3.1 %
      // against +0.3 % and +2.0 %, 200 PCs 1.53x against 1.50x).
      if (pc.roomFree || (pc.starving && !wasStarving)) fill(pc);
      feedExtras(pc);
    }
    if (done < N) events.push(now + policy.NUDGE_S, Ev.Nudge);
  };

  const rebalance = (): void => {
    rebalancePending = false;
    const live = [...liveFlows];
    for (const f of live) settle(f);
    for (const pc of pcs) {
      if (!pc.lossy) continue;
      const down = topo.down(pc.node);
      const tcp = mathis * Math.max(1, pc.conns.length) * cost.data;
      capNow[down] = Math.min(topo.capacity[down]! * (1 - lossShare), tcp);
    }
    const rates = maxMinRates(live, capNow);
    used.fill(0);
    live.forEach((f, k) => {
      const rate = rates[k]!;
      // A flow whose rate did not move keeps its completion event.
      const same = Math.abs(rate - f.rate) <= 1e-9 * Math.max(rate, f.rate);
      f.rate = rate;
      load(f, 1);
      if (!same) schedule(f);
    });
    if (events.items.length > 4 * (liveFlows.size + N) + 1000) events.compact((e) => e.kind !== Ev.FlowDone || flows[e.a]!.stamp === e.b);
  };

  const flowDone = (f: Flow): void => {
    settle(f);
    f.remaining = 0;
    const piece = f.queue.shift()!;
    f.sizes.shift();
    const pc = pcOf(f.dst);
    const key = (pc.node - 1) * P + piece;
    const due = partsDue.get(key);
    if (due !== undefined && due > 1) partsDue.set(key, due - 1);
    else {
      partsDue.delete(key);
      receive(pc, piece, f.src);
    }
    fillWire(pc, f.src);
    if (f.queue.length) {
      f.remaining = f.sizes[0]!;
      schedule(f);
    } else endFlow(f);
    if (pc.roomToSpare) feedExtras(pc);
  };

  const slowest = (): number => Math.min(...Array.from({ length: N }, (_, k) => topo.capacity[topo.down(k + 1)]!));
  const pcLinkBytes = (k: number): number => topo.capacity[topo.down(k + 1)]!;
  let upSum = 0;
  for (let k = 0; k < N; k++) upSum += topo.capacity[topo.up(k + 1)]!;
  const shareBound = (N * scenario.imageBytes) / (topo.capacity[topo.up(SERVER)]! + upSum);
  const boundSeconds = Math.max(scenario.imageBytes / slowest(), shareBound);
  const maxT = boundSeconds * (opts.maxBounds ?? 20) + 60;

  for (const pc of pcs) events.push(random() * scenario.startJitterS, Ev.Start, pc.node);
  events.push(policy.NUDGE_S, Ev.Nudge);
  while (done < N) {
    const e = events.pop();
    if (!e) throw new Error(`model: the swarm stalled at ${now.toFixed(1)} s with ${N - done} of ${N} PCs unfinished`);
    now = e.t;
    if (now > maxT) throw new Error(`model: ${N - done} of ${N} PCs still unfinished after ${maxT.toFixed(0)} s (${opts.maxBounds ?? 20}× the bound)`);
    eventCount++;
    switch (e.kind) {
      case Ev.Start: {
        const pc = pcOf(e.a);
        pc.started = true;
        pc.lastFromPeersAt = now;
        events.push(now + scenario.connectS, Ev.Connect, pc.node, SERVER);
        events.push(now + scenario.connectS, Ev.Announce, pc.node);
        break;
      }
      case Ev.Announce:
        announce(pcOf(e.a));
        break;
      case Ev.Connect: {
        const pc = pcOf(e.a);
        if (e.b !== SERVER) pc.dialing--;
        connect(e.a, e.b);
        break;
      }
      case Ev.FlowDone: {
        const f = flows[e.a]!;
        if (f.alive && f.stamp === e.b) flowDone(f);
        break;
      }
      case Ev.Rebalance:
        rebalance();
        break;
      case Ev.Nudge:
        nudge();
        break;
    }
  }

  const pcSeconds = pcs.map((pc) => pc.doneAt);
  const lastSeconds = Math.max(...pcSeconds);
  const slowestPc = pcSeconds.indexOf(lastSeconds);
  const special = new Set([...scenario.slowPcs, ...scenario.lossyPcs]);
  const fullRate = pcSeconds.filter((_, k) => !special.has(k));
  return {
    scenario,
    seed,
    pcSeconds,
    lastSeconds,
    boundSeconds,
    ratio: lastSeconds / boundSeconds,
    worstOwnRatio: Math.max(...pcSeconds.map((t, k) => t / Math.max(scenario.imageBytes / pcLinkBytes(k), shareBound))),
    fullRateRatio: fullRate.length ? Math.max(...fullRate) / Math.max(scenario.imageBytes / ((scenario.pcMbitPerS * 1e6) / 8), shareBound) : NaN,
    seederUploadImages: sent[SERVER]! / scenario.imageBytes,
    slowestPc,
    inRoomShare: topo.rooms > 0 ? inRoomBytes / Math.max(1, inRoomBytes + crossRoomBytes) : NaN,
    peakLinkLoad,
    piecesReceived: pcs.map((pc) => pc.received),
    events: eventCount,
    extraPieces,
  };
}
