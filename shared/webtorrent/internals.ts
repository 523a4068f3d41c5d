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

/**
 * Wire.prototype (bittorrent-protocol, which webtorrent's wires are), whose _write parses what a
 * connection reads and whose _onMessage is the parser a message's body goes to.
 */
export function wirePrototype(): { _write: WireReadInternals['_write']; _onMessage: WireReadInternals['_parser'] } & Record<string, unknown> {
  const proto = (Wire as unknown as { prototype: Record<string, unknown> }).prototype;
  if (typeof proto._write !== 'function') throw changed('Wire._write');
  if (typeof proto._onMessage !== 'function') throw changed('Wire._onMessage');
  return proto as { _write: WireReadInternals['_write']; _onMessage: WireReadInternals['_parser'] } & Record<string, unknown>;
}

/**
 * A torrent-piece Piece, as client/swarm/piece-buffers.ts takes it over: the fields its methods
 * share (reserve, cancel and friends are kept) and the class's BLOCK_LENGTH, which webtorrent
 * reads at run time (request pipeline depth, timeouts, hotswap cancels).
 */
export interface PieceInternals {
  length: number;
  missing: number;
  sources: unknown[] | null;
  _chunks: number;
  _remainder: number;
  _buffered: number;
  /** torrent-piece: the blocks received, by index; taken over: which blocks are in. Null before init and once flushed. */
  _buffer: unknown[] | null;
  _cancellations: number[] | null;
  _reservations: number;
  _flushed: boolean;
}

/** The methods of Piece.prototype that piece-buffers.ts replaces or relies on. */
const PIECE_METHODS = [
  'init',
  'set',
  'get',
  'flush',
  'chunkLength',
  'chunkLengthRemaining',
  'chunkOffset',
  'reserve',
  'reserveRemaining',
  'cancel',
  'cancelRemaining',
] as const;
const PIECE_FIELDS = ['length', 'missing', 'sources', '_chunks', '_remainder', '_buffered', '_buffer', '_cancellations', '_reservations', '_flushed'] as const;

export interface PieceClass {
  prototype: Record<(typeof PIECE_METHODS)[number], (this: PieceInternals, ...args: never[]) => unknown>;
  BLOCK_LENGTH: number;
}

/** torrent-piece's Piece (whose pieces webtorrent assembles), checked on a piece made to look. */
export function pieceClass(): PieceClass {
  const cls = Piece as unknown as PieceClass;
  for (const m of PIECE_METHODS) if (typeof cls.prototype[m] !== 'function') throw changed(`Piece.${m}`);
  if (typeof cls.BLOCK_LENGTH !== 'number') throw changed('Piece.BLOCK_LENGTH');
  const probe = new Piece(1) as PieceInternals & { init(): boolean };
  probe.init();
  for (const f of PIECE_FIELDS) if (!(f in probe)) throw changed(`Piece.${f}`);
  return cls;
}
