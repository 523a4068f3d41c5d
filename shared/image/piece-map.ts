/**
 * Where a piece's bytes land on a target disk, and the checks that keep every write inside it.
 * Every transport (store, swarm, unicast, multicast) hands its pieces to applyPiece.
 */
import { createHash } from 'node:crypto';
import { ShoalError } from '../errors.js';
import type { PieceEntry, Run } from './manifest.js';
import { decodePiece, parsePieceHeader } from './piece-codec.js';

/** An area as placed on the target disk: its runs are offsets from diskOffset, below limitBytes. */
export interface AreaPlacement {
  areaId: string;
  diskOffset: number;
  limitBytes: number;
}

/** Receives the writes of a piece: a chunk of data, or (chunk null) `length` zero bytes. */
export type DiskWriter = (diskOffset: number, length: number, chunk: Buffer | null) => void;

/** Refuses runs that leave their area or the disk — checked before the first byte is written. */
export function assertRunsInside(runs: readonly Run[], place: AreaPlacement, diskBytes: number, what: string): void {
  if (place.diskOffset < 0 || place.diskOffset + place.limitBytes > diskBytes) {
    throw new ShoalError(`${what}: area ${place.areaId} (${place.diskOffset}+${place.limitBytes}) leaves the ${diskBytes}-byte disk`);
  }
  for (const [offset, length] of runs) {
    if (offset < 0 || length <= 0 || offset + length > place.limitBytes) {
      throw new ShoalError(`${what}: run ${offset}+${length} leaves area ${place.areaId} (${place.limitBytes} bytes)`);
    }
  }
}

function sameRuns(a: readonly Run[], b: readonly Run[]): boolean {
  return a.length === b.length && a.every((r, i) => r[0] === b[i]![0] && r[1] === b[i]![1] && r[2] === b[i]![2]);
}

export interface PieceRef {
  imageId: string;
  index: number;
  entry: PieceEntry;
}

/**
 * Checks a piece against the manifest (SHA-1, identity, runs), then decompresses it into `write`.
 * The SHA-1 is checked before anything is written, so a corrupt piece writes nothing. A piece
 * whose SHA-1 matches decompresses to what was captured, so the raw hash is only re-checked when
 * asked (shoal verify), sparing a deploy a second hash over every byte. `sha1Checked`: the caller
 * has checked these bytes against this piece's SHA-1 already (webtorrent does, against a torrent
 * whose hashes are the manifest's), so it is not hashed twice.
 */
export function applyPiece(
  bytes: Buffer,
  ref: PieceRef,
  place: AreaPlacement,
  diskBytes: number,
  write: DiskWriter,
  opts: { checkRaw?: boolean; sha1Checked?: boolean } = {},
): void {
  const what = `piece ${ref.index} of ${place.areaId}`;
  const sha1 = opts.sha1Checked ? ref.entry.sha1 : createHash('sha1').update(bytes).digest('hex');
  if (sha1 !== ref.entry.sha1) throw new ShoalError(`${what} is corrupt: SHA-1 ${sha1} where the image says ${ref.entry.sha1}`);
  const header = parsePieceHeader(bytes);
  if (header.imageId !== ref.imageId || header.areaId !== place.areaId || header.index !== ref.index) {
    throw new ShoalError(`${what}: the piece names ${header.areaId}#${header.index} of image ${header.imageId}`);
  }
  if (!sameRuns(header.runs, ref.entry.runs)) throw new ShoalError(`${what}: its runs differ from the manifest's`);
  assertRunsInside(header.runs, place, diskBytes, what);
  const raw = opts.checkRaw ? createHash('sha256') : undefined;
  decodePiece(bytes, header, (offset, length, chunk) => {
    if (chunk) raw?.update(chunk);
    write(place.diskOffset + offset, length, chunk);
  });
  if (raw && raw.digest('hex') !== ref.entry.rawSha256) throw new ShoalError(`${what}: decompressed data fails its hash`);
}
