/**
 * Packs an area whose bytes arrive as a stream (an import) with the capture's pack workers: the
 * stream is cut into segments that carry their bytes to a worker, so all cores compress while the
 * main thread reads on. Each segment's unfilled last piece comes back with its bytes and is packed
 * with the others' at the end, as a capture does (capture-disk.ts), so pieces stay full.
 */
import { open } from 'node:fs/promises';
import type { PieceEntry } from '../../shared/image/manifest.js';
import { MIB } from '../../shared/units.js';
import type { WorkerPool } from '../piece-workers/worker-pool.js';
import type { PackExtent, PackJob, PackReply } from '../piece-workers/pack-protocol.js';

/** Raw bytes per job: enough to fill several pieces, few enough that all workers get some. */
const SEGMENT_BYTES = 16 * MIB;
/** Segments handed out and not yet packed, per worker: the stream waits beyond this. */
const IN_FLIGHT_PER_WORKER = 2;

/**
 * Segment buffers, moved to a worker with their job and back with its answer, so an import of any
 * size touches a few dozen MiB of memory rather than allocating (and faulting in) it all.
 */
export class SegmentBuffers {
  private readonly free: ArrayBuffer[] = [];
  take(): ArrayBuffer {
    return this.free.pop() ?? new ArrayBuffer(SEGMENT_BYTES);
  }
  give(b: ArrayBuffer): void {
    if (b.byteLength === SEGMENT_BYTES) this.free.push(b);
  }
}

export interface AreaTarget {
  areaId: string;
  slot: number;
  pieceFile: string;
}

export class StreamPacker {
  private segment: Buffer;
  private used = 0;
  private extents: PackExtent[] = [];
  private readonly leftovers: Array<{ extents: PackExtent[]; data: Uint8Array | undefined } | undefined> = [];
  private readonly running = new Set<Promise<void>>();
  private sent = 0;
  private failure: Error | undefined;
  readonly pieces: PieceEntry[] = [];
  /** Area bytes covered by the pieces made so far. */
  covered = 0;

  private constructor(
    private readonly pool: WorkerPool<PackJob, PackReply>,
    private readonly buffers: SegmentBuffers,
    private readonly target: AreaTarget,
    private readonly nextJobId: () => number,
  ) {
    this.segment = Buffer.from(buffers.take());
  }

  static async create(pool: WorkerPool<PackJob, PackReply>, buffers: SegmentBuffers, target: AreaTarget, nextJobId: () => number): Promise<StreamPacker> {
    await (await open(target.pieceFile, 'w')).close();
    return new StreamPacker(pool, buffers, target, nextJobId);
  }

  /** Adds the area's bytes at `offset` (offsets only grow). Waits while the workers are behind. */
  async add(offset: number, data: Buffer): Promise<void> {
    let at = 0;
    while (at < data.length) {
      const take = Math.min(data.length - at, SEGMENT_BYTES - this.used);
      data.copy(this.segment, this.used, at, at + take);
      const last = this.extents[this.extents.length - 1];
      if (last && last[0] + last[1] === offset + at) last[1] += take;
      else this.extents.push([offset + at, take]);
      this.used += take;
      at += take;
      if (this.used === SEGMENT_BYTES) await this.dispatch(false);
    }
  }

  /** Packs what is left and closes the area; its pieces are then in `pieces`, in index order. */
  async finish(): Promise<PieceEntry[]> {
    // An area that fit in one segment is packed in one final job: nothing is left over.
    if (this.sent === 0) await this.dispatch(true);
    else {
      if (this.used > 0) await this.dispatch(false);
      await this.drain();
      const rest = this.leftovers.filter((l): l is NonNullable<typeof l> => l !== undefined);
      const extents = rest.flatMap((l) => l.extents);
      if (extents.length) {
        const data = Buffer.concat(rest.flatMap((l) => (l.data ? [l.data] : [])));
        await this.run(extents, new Uint8Array(data), true, -1);
      }
    }
    await this.drain();
    this.buffers.give(this.segment.buffer as ArrayBuffer);
    if (this.pieces.some((p) => !p)) throw new Error(`area ${this.target.areaId}: a piece was never reported`);
    return this.pieces;
  }

  private async dispatch(final: boolean): Promise<void> {
    const extents = this.extents;
    const data = new Uint8Array(this.segment.buffer, 0, this.used);
    this.segment = Buffer.from(this.buffers.take());
    this.used = 0;
    this.extents = [];
    const seq = this.sent++;
    const job = this.run(extents, data, final, seq);
    this.running.add(job);
    void job.finally(() => this.running.delete(job)).catch(() => {});
    while (this.running.size >= this.pool.size * IN_FLIGHT_PER_WORKER) await Promise.race(this.running);
    if (this.failure) throw this.failure;
  }

  private async drain(): Promise<void> {
    await Promise.allSettled([...this.running]);
    if (this.failure) throw this.failure;
  }

  /** `data` moves to the worker (its whole buffer) and comes back for reuse. */
  private run(extents: PackExtent[], data: Uint8Array, final: boolean, seq: number): Promise<void> {
    const job: PackJob = {
      jobId: this.nextJobId(),
      diskPath: '',
      diskOffset: 0,
      areaId: this.target.areaId,
      areaSlot: this.target.slot,
      pieceFile: this.target.pieceFile,
      extents,
      final,
      data,
    };
    return this.pool
      .run(
        job,
        (r) => {
          if (r.type === 'piece') {
            this.pieces[r.index] = { sha1: r.sha1, rawSha256: r.rawSha256, runs: r.runs };
            this.covered += r.coveredBytes;
          } else if (r.type === 'done') {
            if (seq >= 0) this.leftovers[seq] = { extents: r.leftover, data: r.leftoverData };
            if (r.returned) this.buffers.give(r.returned.buffer as ArrayBuffer);
          }
        },
        [data.buffer as ArrayBuffer],
      )
      .catch((err: unknown) => {
        this.failure ??= err instanceof Error ? err : new Error(String(err));
        throw err;
      });
  }
}
