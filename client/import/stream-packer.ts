/**
 * Packs an area whose bytes arrive as a stream (an import) with the capture's pack workers: the
 * stream is cut into segments that carry their bytes to a worker, so all cores compress while the
 * main thread reads on. Each segment's unfilled last piece comes back with its bytes and is fed
 * into the next segment, so pieces stay full and what waits in memory stays a few segments
 * whatever the area's size or how well it compresses; the last segment closes the area.
 */
import { open } from 'node:fs/promises';
import { RUN_ZERO, type PieceEntry } from '../../shared/image/manifest.js';
import { MAX_RAW_PER_PIECE_FACTOR } from '../../shared/image/piece-codec.js';
import { MIB } from '../../shared/units.js';
import type { WorkerPool } from '../piece-workers/worker-pool.js';
import type { PackExtent, PackJob, PackReply } from '../piece-workers/pack-protocol.js';

/** Raw bytes per job at least: enough to fill several pieces, few enough that all workers get some. */
const MIN_SEGMENT_BYTES = 16 * MIB;
/** Raw bytes in segments handed out and not yet packed, at most (beyond one per worker): the stream waits beyond this. */
const IN_FLIGHT_BYTES = 128 * MIB;
/** Rounds of feeding leftovers back at an area's end, at most: each round closes at least one piece per job. */
const MAX_FINISH_ROUNDS = 10_000;

/**
 * A segment closes at least one piece whatever the data: a piece takes at most
 * MAX_RAW_PER_PIECE_FACTOR times its length of raw bytes, so a longer segment always fills one.
 * (What a job leaves over is then less than one piece's raw bytes, and the leftovers shrink.)
 */
export const segmentBytes = (pieceLength: number): number => Math.max(MIN_SEGMENT_BYTES, (MAX_RAW_PER_PIECE_FACTOR + 1) * pieceLength);

/**
 * Segment buffers, moved to a worker with their job and back with its answer, so an import of any
 * size touches a few segments of memory rather than allocating (and faulting in) it all.
 */
export class SegmentBuffers {
  private readonly free: ArrayBuffer[] = [];
  constructor(readonly bytes: number) {}
  take(): ArrayBuffer {
    return this.free.pop() ?? new ArrayBuffer(this.bytes);
  }
  give(b: ArrayBuffer): void {
    if (b.byteLength === this.bytes) this.free.push(b);
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
  /** Jobs' leftovers, with their data bytes, waiting to go into the next segment. */
  private readonly returned: Array<{ extents: PackExtent[]; data: Uint8Array | undefined }> = [];
  private readonly running = new Set<Promise<void>>();
  private readonly maxRunning: number;
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
    this.maxRunning = pool.size + Math.max(0, Math.floor(IN_FLIGHT_BYTES / buffers.bytes) - pool.size);
  }

  static async create(pool: WorkerPool<PackJob, PackReply>, buffers: SegmentBuffers, target: AreaTarget, nextJobId: () => number): Promise<StreamPacker> {
    await (await open(target.pieceFile, 'w')).close();
    return new StreamPacker(pool, buffers, target, nextJobId);
  }

  /** Adds the area's bytes at `offset`. Waits while the workers are behind. */
  async add(offset: number, data: Buffer): Promise<void> {
    await this.takeBack();
    await this.append(offset, data);
  }

  private async append(offset: number, data: Buffer): Promise<void> {
    let at = 0;
    while (at < data.length) {
      const take = Math.min(data.length - at, this.buffers.bytes - this.used);
      data.copy(this.segment, this.used, at, at + take);
      const last = this.extents[this.extents.length - 1];
      if (last && last[2] !== RUN_ZERO && last[0] + last[1] === offset + at) last[1] += take;
      else this.extents.push([offset + at, take]);
      this.used += take;
      at += take;
      if (this.used === this.buffers.bytes) await this.dispatch(false);
    }
  }

  /** Feeds the leftovers the workers gave back into the segment being filled. */
  private async takeBack(): Promise<void> {
    while (this.returned.length) {
      const { extents, data } = this.returned.shift()!;
      let at = 0;
      for (const e of extents) {
        // Zero runs found inside the data carry no bytes: they ride along as zero extents.
        if (e[2] === RUN_ZERO) this.extents.push([e[0], e[1], RUN_ZERO]);
        else {
          await this.append(e[0], Buffer.from(data!.buffer, data!.byteOffset + at, e[1]));
          at += e[1];
        }
      }
    }
  }

  /** Packs what is left and closes the area; its pieces are then in `pieces`, in index order. */
  async finish(): Promise<PieceEntry[]> {
    for (let round = 0; ; round++) {
      if (round > MAX_FINISH_ROUNDS) throw new Error(`area ${this.target.areaId}: its last pieces would not close`);
      await this.drain();
      await this.takeBack();
      // Full segments of leftovers went out again: wait for them, and take back what they leave.
      if (this.running.size || this.returned.length) continue;
      if (this.used > 0 || this.extents.length) {
        await this.dispatch(true);
        await this.drain();
      }
      break;
    }
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
    const job = this.run(extents, data, final);
    this.running.add(job);
    void job.finally(() => this.running.delete(job)).catch(() => {});
    while (this.running.size >= this.maxRunning) await Promise.race(this.running);
    if (this.failure) throw this.failure;
  }

  private async drain(): Promise<void> {
    await Promise.allSettled([...this.running]);
    if (this.failure) throw this.failure;
  }

  /** `data` moves to the worker (its whole buffer) and comes back for reuse. */
  private run(extents: PackExtent[], data: Uint8Array, final: boolean): Promise<void> {
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
            if (r.leftover.length) this.returned.push({ extents: r.leftover, data: r.leftoverData });
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
