/**
 * Which pieces a target disk already holds, from the manifest alone: each piece's runs are read
 * back and its data compared with the raw SHA-256 in the piece table (zero runs must read as
 * zeros). A PC restarted mid-deploy fetches only the rest.
 * Most deploys start on a disk that holds none of the image, and reading it all back costs a PC
 * seconds of CPU and disk: a few pieces spread over the image are checked first, and only when
 * one of them is there is every piece checked. (A deploy cut off before it wrote any of them is
 * fetched again whole.) Even those few pieces cost a PC a third of its start-up CPU on a zeroed
 * disk (a new disk, a lab's sparse disk file), so a sampled piece whose first data block reads as
 * zeros counts as not there without being hashed: at worst a resume fetches again what it had.
 *
 * A finished deploy rewrites a few bytes after its pieces (NTFS's "hidden sectors", set to where
 * the partition starts on this disk): read back, those pieces differ from the image by those bytes
 * alone. `rewritten` names them, with what the image may hold there, so that the same image again
 * does not fetch them (two pieces per NTFS partition each time: 2 MiB with the default 1 MiB pieces).
 */
import { createHash } from 'node:crypto';
import { closeSync, openSync, readSync } from 'node:fs';
import { RUN_ZERO } from '../shared/manifest.js';
import { MIB } from '../shared/units.js';
import type { PieceTarget } from './disk-piece-store.js';

const READ_BYTES = 1 * MIB;
const SAMPLED_PIECES = 16;
const ZEROS = Buffer.alloc(READ_BYTES);
const PROBE_BYTES = 4096;

/** Bytes at `diskOffset` that a deploy rewrites after the pieces; the image holds one of `imageValues` there. */
export interface Rewritten {
  diskPath: string;
  diskOffset: number;
  imageValues: Buffer[];
}

/**
 * The answer to the portal's challenge that this PC holds the image (portal/proof.ts): SHA-256
 * over the nonce, then each named piece's data as the disk holds it, in run order (zero runs left
 * out, as the raw hash leaves them out). Bytes a deploy rewrote after the pieces are taken as the
 * image had them, so the answer is the image's when the disk holds it.
 */
export function proofOfPieces(pieces: PieceTarget[], indices: number[], nonce: string, rewritten: Rewritten[] = []): string {
  const proof = createHash('sha256').update(nonce);
  const fds = new Map<string, number>();
  try {
    for (const i of indices) {
      const p = pieces[i];
      if (!p) throw new Error(`the portal asked for piece ${i}, which this image does not have`);
      let fd = fds.get(p.diskPath);
      if (fd === undefined) fds.set(p.diskPath, (fd = openSync(p.diskPath, 'r')));
      const dataRuns = p.ref.entry.runs.filter(([, , kind]) => kind !== RUN_ZERO);
      const data = Buffer.alloc(dataRuns.reduce((n, [, l]) => n + l, 0));
      let at = 0;
      const spans: Array<{ diskAt: number; bufAt: number; length: number }> = [];
      for (const [offset, length] of dataRuns) {
        const n = readSync(fd, data, at, length, p.place.diskOffset + offset);
        spans.push({ diskAt: p.place.diskOffset + offset, bufAt: at, length: n });
        at += length;
      }
      // The image's bytes where a deploy rewrote some: the variant that hashes to the piece's raw hash.
      const patched = (k: number): Buffer => {
        const copy = Buffer.from(data);
        for (const r of rewritten) {
          const value = r.imageValues[k];
          const span = value && r.diskPath === p.diskPath ? spans.find((s) => r.diskOffset >= s.diskAt && r.diskOffset + value.length <= s.diskAt + s.length) : undefined;
          if (span) value!.copy(copy, span.bufAt + r.diskOffset - span.diskAt);
        }
        return copy;
      };
      const tries = Math.max(0, ...rewritten.map((r) => r.imageValues.length));
      const matching = [data, ...Array.from({ length: tries }, (_, k) => patched(k))].find((b) => createHash('sha256').update(b).digest('hex') === p.ref.entry.rawSha256);
      proof.update(matching ?? data);
    }
    return proof.digest('hex');
  } finally {
    for (const fd of fds.values()) closeSync(fd);
  }
}

export function piecesOnDisk(pieces: PieceTarget[], rewritten: Rewritten[] = []): boolean[] {
  const fds = new Map<string, number>();
  const buf = Buffer.allocUnsafe(READ_BYTES);
  const open = (path: string): number => {
    let fd = fds.get(path);
    if (fd === undefined) fds.set(path, (fd = openSync(path, 'r')));
    return fd;
  };
  try {
    /** Whether the piece's runs on disk hash to its raw hash, with the rewritten bytes in them taken as their `k`-th image value. */
    const holdsAs = (p: PieceTarget, patches: Rewritten[], k: number): boolean => {
      const fd = open(p.diskPath);
      const hash = createHash('sha256');
      for (const [offset, length, kind] of p.ref.entry.runs) {
        for (let done = 0; done < length; ) {
          const at = p.place.diskOffset + offset + done;
          const n = readSync(fd, buf, 0, Math.min(READ_BYTES, length - done), at);
          if (n <= 0) return false;
          const chunk = buf.subarray(0, n);
          for (const r of patches) {
            const value = r.imageValues[k]!;
            if (r.diskOffset >= at && r.diskOffset + value.length <= at + n) value.copy(chunk, r.diskOffset - at);
          }
          if (kind === RUN_ZERO) {
            if (!chunk.equals(ZEROS.subarray(0, n))) return false;
          } else hash.update(chunk);
          done += n;
        }
      }
      return hash.digest('hex') === p.ref.entry.rawSha256;
    };
    const holds = (p: PieceTarget): boolean => {
      if (holdsAs(p, [], 0)) return true;
      const inside = rewritten.filter((r) => r.diskPath === p.diskPath && p.ref.entry.runs.some(([o, l, kind]) => kind !== RUN_ZERO && r.diskOffset >= p.place.diskOffset + o && r.diskOffset + r.imageValues[0]!.length <= p.place.diskOffset + o + l));
      const tries = Math.min(...inside.map((r) => r.imageValues.length));
      for (let k = 0; inside.length && k < tries; k++) if (holdsAs(p, inside, k)) return true;
      return false;
    };
    /** False when the piece's first data block reads as zeros; pieces of zero runs alone tell nothing. */
    const mayHold = (p: PieceTarget): boolean => {
      const run = p.ref.entry.runs.find(([, , kind]) => kind !== RUN_ZERO);
      if (!run) return false;
      const fd = open(p.diskPath);
      const n = readSync(fd, buf, 0, Math.min(PROBE_BYTES, run[1]), p.place.diskOffset + run[0]);
      return n > 0 && !buf.subarray(0, n).equals(ZEROS.subarray(0, n));
    };
    const step = Math.max(1, Math.floor(pieces.length / SAMPLED_PIECES));
    const sample = pieces.filter((_, i) => i % step === 0);
    if (!sample.some((p) => mayHold(p) && holds(p))) return pieces.map(() => false);
    return pieces.map(holds);
  } finally {
    for (const fd of fds.values()) closeSync(fd);
  }
}
