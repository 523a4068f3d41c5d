/**
 * Every reach into webtorrent's private members, in one place (README.md beside this says which,
 * why, and for which version). Each view checks, when it is taken, that what it needs is still
 * there, and throws "webtorrent changed: …" naming it: an upgrade fails at once and loudly, not
 * with a swarm that quietly stops ordering, limiting or deduplicating.
 */
import Peer from 'webtorrent/lib/peer.js';
import Wire from 'bittorrent-protocol';
import Piece from 'torrent-piece';
import type { Torrent } from 'webtorrent';

const changed = (what: string): Error => new Error(`webtorrent changed: ${what} is gone (see shared/webtorrent/README.md)`);

/** A torrent-piece Piece while missing (null once verified): blocks handed out in order, cancelled ones back on `_cancellations`. */
export interface MissingPiece {
  _reservations: number;
  _chunks: number;
  _cancellations: number[] | null;
}

/** The private side of a Torrent that Shoal uses. `W` is the wire as the caller sees it. */
export interface TorrentInternals<W> {
  /** Asks `wire` for a block of piece `index`; false when there is none to ask for. */
  _request(wire: W, index: number, hotswap: boolean): boolean;
  _select(from: number, to: number, priority: number, notify: undefined, isStreamSelection: boolean): void;
  _update(): void;
  _updateWire(wire: W): void;
  /** Where a peer address is dialled: client/swarm/duplicate-wires.ts wraps it. */
  _addPeer(peer: unknown, type: string, source: unknown): unknown;
  wires: W[];
  pieces: Array<MissingPiece | null>;
  bitfield: { get(i: number): boolean };
  downloaded: number;
  uploaded: number;
  numPeers: number;
  destroyed: boolean;
}

const TORRENT_METHODS = ['_request', '_select', '_update', '_updateWire', '_addPeer'] as const;

export function torrentInternals<W>(torrent: Torrent): TorrentInternals<W> {
  const t = torrent as unknown as TorrentInternals<W>;
  for (const f of TORRENT_METHODS) if (typeof t[f] !== 'function') throw changed(`Torrent.${f}`);
  if (!Array.isArray(t.wires)) throw changed('Torrent.wires');
  if (!Array.isArray(t.pieces)) throw changed('Torrent.pieces');
  return t;
}

/** The client's throttle groups, one per direction, which every connection's pipes are made from. */
export function clientThrottleGroups(client: object): { down: unknown; up: unknown } {
  const c = client as { throttleGroups?: { down: unknown; up: unknown } };
  if (!c.throttleGroups || typeof c.throttleGroups !== 'object') throw changed('client.throttleGroups');
  return c.throttleGroups;
}

/** Peer.prototype, whose setThrottlePipes joins a connection to its wire (shared/webtorrent/direct-pipes.ts). */
export function peerPrototype(): { setThrottlePipes: unknown } & Record<string, unknown> {
  const proto = (Peer as { prototype: Record<string, unknown> }).prototype;
  if (typeof proto.setThrottlePipes !== 'function') throw changed('Peer.setThrottlePipes');
  return proto as { setThrottlePipes: unknown } & Record<string, unknown>;
}

/** The parts of bittorrent-protocol's Wire that read incoming bytes (shared/webtorrent/wire-reads.ts). */
export interface WireReadInternals {
  _write(data: Uint8Array, cb: (err: Error | null) => void): void;
  /** Incoming bytes not yet parsed, in order; the original keeps them as one buffer. */
  _buffer: Uint8Array[];
  _bufferSize: number;
  /** Bytes the parser waits for, and the parser that takes exactly them. */
  _parserSize: number;
  _parser(bytes: Uint8Array): void;
  _encryptionMethod?: number;
  _cryptoSyncPattern?: Uint8Array | null;
}

/** Wire.prototype (bittorrent-protocol, which webtorrent's wires are), whose _write parses what a connection reads. */
export function wirePrototype(): { _write: WireReadInternals['_write'] } & Record<string, unknown> {
  const proto = (Wire as unknown as { prototype: Record<string, unknown> }).prototype;
  if (typeof proto._write !== 'function') throw changed('Wire._write');
  return proto as { _write: WireReadInternals['_write'] } & Record<string, unknown>;
}

/** A torrent-piece Piece while its blocks come: flush() joins them into the piece webtorrent checks and stores. */
export interface PieceBlocksInternals {
  flush(): Uint8Array | null;
  length: number;
  /** The blocks received, by index; null once flushed. */
  _buffer: Array<Uint8Array | undefined> | null;
  _chunks: number;
  _buffered: number;
  _cancellations: number[] | null;
  sources: unknown[] | null;
  _flushed: boolean;
}

/** Piece.prototype (torrent-piece, whose pieces webtorrent assembles), checked on a piece made to look. */
export function piecePrototype(): { flush: (this: PieceBlocksInternals) => Uint8Array | null } & Record<string, unknown> {
  const proto = (Piece as unknown as { prototype: Record<string, unknown> }).prototype;
  if (typeof proto.flush !== 'function') throw changed('Piece.flush');
  const probe = new Piece(1) as PieceBlocksInternals & { init(): boolean };
  probe.init();
  for (const f of ['_buffer', '_chunks', '_buffered', '_cancellations', 'sources', '_flushed'] as const) {
    if (!(f in probe)) throw changed(`Piece.${f}`);
  }
  return proto as { flush: (this: PieceBlocksInternals) => Uint8Array | null } & Record<string, unknown>;
}
