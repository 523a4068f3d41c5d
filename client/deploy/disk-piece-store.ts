/**
 * The piece store of DESIGN.md, "Straight to disk": webtorrent hands it each piece after checking
 * its SHA-1, and it decompresses the piece straight to its runs on the target disk. Nothing is
 * staged in front of the write. The compressed bytes are kept for reseeding in a bounded memory
 * cache, least recently used out first; a piece pushed out of it goes to the target disk's free
 * space (reseed-stash.ts) when a slot was planned for it and some peer still lacks it. In a swarm
 * of PCs most pieces have reached every peer by then, so most are never written twice (the stash's
 * writes and reads were roughly 7 % of a PC's CPU in a 16-PC swarm on 2 cores). A piece no longer held
 * is refused to peers, who ask another (webtorrent tolerates a failed get: the request is rejected
 * and re-asked elsewhere).
 *
 * A piece's buffer is given back to `giveBack` (the swarm's PieceBufferPool) when the piece leaves
 * the cache, to be joined into again: so what `get` serves a peer is a copy, never a view a later
 * piece could overwrite while the socket still holds it.
 */
import { readSync } from 'node:fs';
import type { StashSlot } from './reseed-stash.js';
import { fdWriter } from '../disk/disk-writer.js';
import { PieceWriter, type PieceTarget } from './piece-writer.js';
import { MIB } from '../../shared/units.js';

export type { PieceTarget } from './piece-writer.js';

export interface DiskStoreContext {
  /** Torrent piece index → what it is and where it goes. */
  pieces: PieceTarget[];
  /** Compressed bytes kept for reseeding, at most. */
  cacheBytes: number;
  /**
   * Pieces to keep longest: this PC's share of a group deploy, which the other PCs fetch from it
   * rather than from the storage nodes. Others are evicted first.
   */
  keepLongest?: (index: number) => boolean;
  /** Slots on the target disk's free space for pieces pushed out of the cache (reseed-stash.ts). */
  stash?: Map<number, StashSlot>;
  /** Whether a connected peer lacks piece `index`; a piece every peer holds is not stashed. Default: yes. */
  peersLack?: (index: number) => boolean;
  onWritten?: (index: number, coveredBytes: number) => void;
  /** Where a piece's buffer goes when this store lets go of it (client/swarm/piece-buffers.ts). */
  giveBack?: (buf: Buffer) => void;
}

/** The memory cache, for pieces the stash has no room for. */
export const DEFAULT_RESEED_CACHE_BYTES = 32 * MIB;

type Cb<T = void> = (err: Error | null, value?: T) => void;

export class DiskPieceStore {
  readonly chunkLength: number;
  private readonly ctx: DiskStoreContext;
  private readonly writer: PieceWriter;
  private readonly cache = new Map<number, Buffer>();
  private readonly stashed = new Set<number>();
  private cachedBytes = 0;
  private closed = false;

  constructor(chunkLength: number, opts: { shoal: DiskStoreContext }) {
    this.chunkLength = chunkLength;
    this.ctx = opts.shoal;
    this.writer = new PieceWriter(this.ctx.pieces);
  }

  private fd(path: string): number {
    return this.writer.fd(path);
  }

  /** webtorrent calls this only with a piece whose SHA-1 it checked, and drops its buffer after. */
  put(index: number, buf: Buffer, cb: Cb = () => {}): void {
    try {
      const bytes = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
      const covered = this.writer.write(index, bytes, { sha1Checked: true });
      this.remember(index, bytes);
      this.ctx.onWritten?.(index, covered);
      cb(null);
    } catch (err) {
      cb(err as Error);
    }
  }

  private remember(index: number, buf: Buffer): void {
    if (buf.length > this.ctx.cacheBytes) return this.letGo(index, buf);
    this.cache.set(index, buf);
    this.cachedBytes += buf.length;
    // Least recently used first, pieces of other PCs' shares before this PC's own.
    const keep = this.ctx.keepLongest ?? (() => false);
    for (const pass of [false, true]) {
      for (const [old, b] of this.cache) {
        if (this.cachedBytes <= this.ctx.cacheBytes) return;
        if (keep(old) !== pass) continue;
        this.cache.delete(old);
        this.cachedBytes -= b.length;
        this.letGo(old, b);
      }
    }
  }

  /** A piece leaving the cache goes to its stash slot, if it has one and a peer may still ask for it; its buffer goes back. */
  private letGo(index: number, buf: Buffer): void {
    this.spill(index, buf);
    this.ctx.giveBack?.(buf);
  }

  private spill(index: number, buf: Buffer): void {
    const slot = this.ctx.stash?.get(index);
    if (!slot || this.stashed.has(index) || this.ctx.peersLack?.(index) === false) return;
    const stashWrite = fdWriter(this.fd(slot.diskPath));
    let at = 0;
    for (const [off, len] of slot.extents) {
      stashWrite(off, len, buf.subarray(at, at + len));
      at += len;
    }
    this.stashed.add(index);
  }

  get(index: number, opts: { offset?: number; length?: number } | null | Cb<Buffer>, cb?: Cb<Buffer>): void {
    const done = (typeof opts === 'function' ? opts : cb) as Cb<Buffer>;
    const o = typeof opts === 'function' || !opts ? {} : opts;
    const buf = this.cache.get(index);
    if (buf) {
      // Touch: a piece peers still ask for stays.
      this.cache.delete(index);
      this.cache.set(index, buf);
      const offset = o.offset ?? 0;
      const length = o.length ?? buf.length - offset;
      // A copy: the buffer may be joined into again (see above) while a socket still sends this.
      const out = Buffer.allocUnsafe(Math.max(0, Math.min(length, buf.length - offset)));
      buf.copy(out, 0, offset, offset + out.length);
      return queueMicrotask(() => done(null, out));
    }
    const slot = this.stashed.has(index) ? this.ctx.stash?.get(index) : undefined;
    if (!slot) return queueMicrotask(() => done(new Error(`piece ${index} is not held`)));
    try {
      const offset = o.offset ?? 0;
      const length = o.length ?? slot.extents.reduce((n, e) => n + e[1], 0) - offset;
      const out = Buffer.allocUnsafe(length);
      let filled = 0;
      let pos = 0;
      // The requested range of the piece, read from the stash extents it falls in.
      for (const [off, len] of slot.extents) {
        const from = Math.max(offset, pos);
        const to = Math.min(offset + length, pos + len);
        if (to > from) filled += readSync(this.fd(slot.diskPath), out, filled, to - from, off + (from - pos));
        pos += len;
      }
      if (filled !== length) throw new Error(`stash of piece ${index}: read ${filled} of ${length} bytes`);
      queueMicrotask(() => done(null, out));
    } catch (err) {
      queueMicrotask(() => done(err as Error));
    }
  }

  close(cb: Cb = () => {}): void {
    if (!this.closed) {
      this.closed = true;
      this.writer.close();
      for (const buf of this.cache.values()) this.ctx.giveBack?.(buf);
      this.cache.clear();
    }
    queueMicrotask(() => cb(null));
  }

  destroy(cb: Cb = () => {}): void {
    this.close(cb);
  }
}
