/**
 * torrent-piece joins a piece's 16 KiB blocks, once the last one is in, into a new buffer of the
 * piece's length: fresh memory each time, zero-filled and faulted in page by page, then left to the
 * collector. That join was about 1 ms per MiB received in bench:swarm's client profile (2026-12-05),
 * near a seventh of a swarm PC's CPU, where unicast reads each piece into a buffer it reuses.
 *
 * Here the blocks are joined into a buffer given back by a piece this PC no longer holds:
 * DiskPieceStore gives each piece's buffer back when it leaves the reseed cache. A buffer is lent
 * again only once given back, and given back only once nothing reads it any more, which is why the
 * store copies what it serves to peers rather than lending them a view.
 */
import { piecePrototype, type PieceBlocksInternals } from '../../shared/webtorrent/internals.js';

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

/** Every torrent-piece Piece from now on in this process joins its blocks in a buffer of `pieceBuffers`. */
export function usePieceBuffers(): void {
  if (installed) return;
  const proto = piecePrototype();
  const original = proto.flush;
  installed = true;
  proto.flush = function flushIntoPooledBuffer(this: PieceBlocksInternals) {
    const blocks = this._buffer;
    if (!blocks || this._chunks !== this._buffered) return null;
    let total = 0;
    for (const b of blocks) total += b?.length ?? 0;
    // Blocks that do not add up to the piece: the original's join, whatever it makes of them.
    if (total !== this.length) return original.call(this);
    const out = pieceBuffers.take(this.length);
    let at = 0;
    for (const b of blocks) {
      out.set(b!, at);
      at += b!.length;
    }
    this._buffer = null;
    this._cancellations = null;
    this.sources = null;
    this._flushed = true;
    return out;
  };
}
