import type { AreaPlacement } from '../../shared/image/piece-map.js';
import type { PieceEntry } from '../../shared/image/manifest.js';

export interface UnpackJob {
  jobId: number;
  imageId: string;
  pieceLength: number;
  pieceFile: string;
  diskPath: string;
  diskBytes: number;
  placement: AreaPlacement;
  pieces: Array<{ index: number; entry: PieceEntry }>;
  /** Only compare each stored piece's SHA-1 (a capture's read-back before it publishes). */
  sha1Only?: boolean;
  /** Also re-hash the decompressed data against the manifest (shoal verify). */
  checkRaw?: boolean;
}

export type UnpackReply =
  { type: 'piece'; jobId: number; index: number; coveredBytes: number } | { type: 'done'; jobId: number } | { type: 'error'; jobId: number; message: string };
