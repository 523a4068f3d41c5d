/**
 * How a swarm PC assembles the pieces it receives: each block is copied, as it arrives, to its
 * place in a buffer of the piece's length, and blocks are asked for in SWARM_BLOCK_BYTES.
 *
 * torrent-piece (the Piece webtorrent assembles) keeps every 16 KiB block as a view of the socket
 * read it came in and joins them into fresh memory once the last is in: zero-filled, faulted in
 * page by page, then left to the collector, while the views keep whole socket reads alive until
 * then. Here the blocks go into a buffer given back by a piece this PC no longer holds:
 * DiskPieceStore gives each piece's buffer back when it leaves the reseed cache. A buffer is lent
 * again only once given back, and given back only once nothing reads it any more, which is why the
 * store copies what it serves to peers rather than lending them a view.
 *
 * Most of what a swarm PC spends beyond its unicast cousin is paid per block (a request, a message
 * parsed, a callback, timers reset), so larger blocks cost less: see SWARM_BLOCK_BYTES.
 */
import { pieceClass, type PieceInternals } from '../../shared/webtorrent/internals.js';
import { lendPieceBlocks } from '../../shared/webtorrent/wire-reads.js';

/** Spare buffers kept, at most: the cache gives one back for each piece it takes, so one or two suffice. */
const SPARE_BUFFERS = 4;

export class PieceBufferPool {
  private readonly spare: ArrayBuffer[] = [];
  private readonly lent = new WeakSet<ArrayBufferLike>();
  /** How many pieces were joined into a reused buffer, and into a new one (for tests and traces). */
  reused = 0;
  fresh = 0;

  /** A buffer of `length` bytes (old contents: the caller fills all of it), lent until given back. */
  take(length: number): Uint8Array {
    const at = this.spare.findIndex((b) => b.byteLength === length);
    let memory: ArrayBuffer;
    if (at >= 0) {
      memory = this.spare.splice(at, 1)[0]!;
      this.reused++;
    } else {
      // Not zero-filled: the caller overwrites every byte.
      memory = Buffer.allocUnsafeSlow(length).buffer;
      this.fresh++;
    }
    this.lent.add(memory);
    return new Uint8Array(memory);
  }

  /** Gives back a buffer this pool lent (any view of it); anything else, or a second return, is ignored. */
  giveBack(view: ArrayBufferView): void {
    const memory = view.buffer;
    if (!this.lent.has(memory)) return;
    this.lent.delete(memory);
    this.spare.push(memory as ArrayBuffer);
    if (this.spare.length > SPARE_BUFFERS) this.spare.shift();
  }
}

/** The process's pool: what every swarm deploy's pieces are joined in. */
export const pieceBuffers = new PieceBufferPool();

let installed = false;

/**
 * The largest block a PC asks its peers for. BitTorrent's custom is 16 KiB; webtorrent serves
 * blocks up to 128 KiB (a larger request drops the wire), and every peer of a Shoal swarm is a
 * Shoal seeder or PC, so a PC may ask for more. Most of what a swarm PC spends beyond its unicast
 * cousin is paid per block (a request, a message parsed, a callback, timers reset): with 1 MiB
 * pieces and no limit, a PC took 2,840 ms of CPU at 16 KiB, 2,460 at 64 KiB and 2,290 at 128 KiB
 * (3 rounds alternated, docs/benchmarks.md, 2026-12-05).
 */
export const SWARM_BLOCK_BYTES = 64 << 10;
/**
 * A piece is asked for in at least this many blocks, so that it still comes from several peers
 * at once and a slow peer's blocks can be taken over. In the lab at 1 Mbit/s (16 PCs, 1 MiB
 * pieces) 128 KiB blocks, 8 to a piece, left the last PC at 1.36 and 1.46 times the bound where
 * 16 and 64 KiB left it at 1.18 to 1.27; with 256 KiB pieces in 64 KiB blocks, the slow PC of
 * the room-to-spare test passed on one block in two runs of three.
 */
export const MIN_BLOCKS_PER_PIECE = 16;

/** The block for an image of `pieceLength`: a sixteenth of a piece, 16 KiB at least, SWARM_BLOCK_BYTES at most. */
export function swarmBlockBytes(pieceLength: number): number {
  const block = 2 ** Math.floor(Math.log2(Math.max(1, pieceLength / MIN_BLOCKS_PER_PIECE)));
  return Math.min(SWARM_BLOCK_BYTES, Math.max(16 << 10, block));
}

/**
 * From now on every torrent-piece Piece in this process is assembled as above, in blocks of
 * `blockBytes`. Call it before any piece is asked for: BLOCK_LENGTH is read by webtorrent at run
 * time, and a piece begun under one block length must not be finished under another, so a
 * process keeps the block length it began with (any serves; a PC deploys one image per process).
 * Returns the block length in use.
 */
export function usePieceBuffers(blockBytes = SWARM_BLOCK_BYTES): number {
  if (!(Number.isInteger(blockBytes) && blockBytes >= 16 << 10 && blockBytes <= 128 << 10)) {
    throw new Error(`a swarm block is 16 to 128 KiB, not ${blockBytes} bytes`);
  }
  const Piece = pieceClass();
  if (installed) return Piece.BLOCK_LENGTH;
  installed = true;
  Piece.BLOCK_LENGTH = blockBytes;
  // set() below copies every block before the wire's call returns, so the wire may lend it.
  lendPieceBlocks();
  const joined = new WeakMap<PieceInternals, Uint8Array>();
  const proto = Piece.prototype as unknown as Record<string, unknown>;
  Object.assign(proto, {
    // torrent-piece's constructor counted 16 KiB blocks; a piece is counted again here, before its first block is handed out.
    init(this: PieceInternals): boolean {
      if (this._flushed) return false;
      if (this._buffer) return true;
      this._chunks = Math.ceil(this.length / blockBytes);
      this._remainder = this.length % blockBytes || blockBytes;
      this._buffer = new Array<boolean | undefined>(this._chunks);
      this._cancellations = [];
      this.sources = [];
      return true;
    },
    chunkLength(this: PieceInternals, i: number): number {
      return i === this._chunks - 1 ? this._remainder : blockBytes;
    },
    chunkLengthRemaining(this: PieceInternals, i: number): number {
      return this.length - i * blockBytes;
    },
    chunkOffset(i: number): number {
      return i * blockBytes;
    },
    // The blocks are in the joined buffer, not kept one by one.
    get(): null {
      return null;
    },
    /** Copies the blocks of `data` that are not in yet (one block, or several from a web seed) to their place. */
    set(this: PieceInternals & { init(): boolean }, i: number, data: Uint8Array, source: unknown): boolean {
      if (!this.init()) return false;
      const have = this._buffer!;
      let out = joined.get(this);
      if (!out) joined.set(this, (out = pieceBuffers.take(this.length)));
      for (let j = i, at = 0; at < data.length && j < this._chunks; j++, at += blockBytes) {
        if (have[j]) continue;
        const block = data.subarray(at, Math.min(data.length, at + blockBytes, this.length - j * blockBytes + at));
        out.set(block, j * blockBytes);
        have[j] = true;
        this._buffered++;
        this.missing -= block.length;
        if (!this.sources!.includes(source)) this.sources!.push(source);
      }
      return this._buffered === this._chunks;
    },
    /**
     * The piece once every block is in (a block shorter than asked leaves old bytes, which the
     * piece's SHA-1 then rejects, as it would torrent-piece's join).
     */
    flush(this: PieceInternals): Uint8Array | null {
      if (!this._buffer || this._chunks !== this._buffered) return null;
      const out = joined.get(this) ?? pieceBuffers.take(this.length);
      joined.delete(this);
      this._buffer = null;
      this._cancellations = null;
      this.sources = null;
      this._flushed = true;
      return out;
    },
  });
  return blockBytes;
}
