import type { Run } from '../../shared/image/manifest.js';

export interface PackInit {
  pieceLength: number;
  zstdLevel: number;
  imageId: string;
  /** One Int32 per area: the next free piece index. */
  counters: SharedArrayBuffer;
  /**
   * Capture over the network: one Int32, the pieces written locally but not yet sent. Workers wait
   * while it is at `maxUnsent`, so the local copy stays small whatever the disk's size.
   */
  unsent?: SharedArrayBuffer;
  maxUnsent?: number;
}

/** [offset, length] of area bytes to read, or [offset, length, RUN_ZERO] of zeros known not to need reading. */
export type PackExtent = [number, number] | [number, number, number];

export interface PackJob {
  jobId: number;
  /** The source disk ('' when the job carries its bytes in `data`). */
  diskPath: string;
  /** Where the area starts on the source disk; extents are offsets from here. */
  diskOffset: number;
  areaId: string;
  areaSlot: number;
  pieceFile: string;
  extents: PackExtent[];
  /** The last job of an area closes its last piece even when it is not full. */
  final: boolean;
  /**
   * The bytes of the data extents, one after another, when they come from a stream (an import)
   * rather than from a disk the worker can read.
   */
  data?: Uint8Array;
}

export type PackReply =
  | { type: 'piece'; jobId: number; areaSlot: number; index: number; sha1: string; rawSha256: string; runs: Run[]; coveredBytes: number }
  /** leftoverData: the bytes of leftover's data extents, in order, for a job that came with `data`. */
  /** `returned`: the job's `data` given back (moved, not copied) for the next job to fill. */
  | { type: 'done'; jobId: number; leftover: PackExtent[]; leftoverData?: Uint8Array; returned?: Uint8Array }
  | { type: 'error'; jobId: number; message: string };
