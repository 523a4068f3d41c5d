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
import { RUN_ZERO } from '../../shared/image/manifest.js';
import { MIB } from '../../shared/units.js';
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
 * Reads pieces back from their disks, one buffer at a time: each run's bytes in order, with the
 * rewritten bytes in them taken as the image had them (the `k`-th value of each patch), zero runs
 * checked to read as zeros. What resume and the portal's proof both read the disk with.
 */
class PieceReader {
  private readonly fds = new Map<string, number>();
  private readonly buf = Buffer.allocUnsafe(READ_BYTES);

  fd(path: string): number {
    let fd = this.fds.get(path);
    if (fd === undefined) this.fds.set(path, (fd = openSync(path, 'r')));
    return fd;
  }

  /** Feeds the piece's data runs to `onData`; false when the disk ends early or a zero run is not zeros (with `zeros` checked). */
  walk(p: PieceTarget, patches: Rewritten[], k: number, onData: (chunk: Buffer) => void, zeros = true): boolean {
    const fd = this.fd(p.diskPath);
    for (const [offset, length, kind] of p.ref.entry.runs) {
      if (kind === RUN_ZERO && !zeros) continue;
      for (let done = 0; done < length;) {
        const at = p.place.diskOffset + offset + done;
        const n = readSync(fd, this.buf, 0, Math.min(READ_BYTES, length - done), at);
        if (n <= 0) return false;
        const chunk = this.buf.subarray(0, n);
        for (const r of patches) {
          const value = r.imageValues[k]!;
          if (r.diskOffset >= at && r.diskOffset + value.length <= at + n) value.copy(chunk, r.diskOffset - at);
        }
        if (kind === RUN_ZERO) {
          if (!chunk.equals(ZEROS.subarray(0, n))) return false;
        } else onData(chunk);
        done += n;
      }
    }
    return true;
  }

  /** Whether the piece's runs on disk hash to its raw hash, read as `walk` reads them. */
  holdsAs(p: PieceTarget, patches: Rewritten[], k: number): boolean {
    const hash = createHash('sha256');
    return this.walk(p, patches, k, (c) => hash.update(c)) && hash.digest('hex') === p.ref.entry.rawSha256;
  }

  /**
   * How the disk holds the piece: as it is ({ patches: [] }), with the rewritten bytes taken as
   * their k-th image value, or not at all (undefined).
   */
  held(p: PieceTarget, rewritten: Rewritten[]): { patches: Rewritten[]; k: number } | undefined {
    if (this.holdsAs(p, [], 0)) return { patches: [], k: 0 };
    const inside = rewritten.filter(
      (r) =>
        r.diskPath === p.diskPath &&
        p.ref.entry.runs.some(
          ([o, l, kind]) =>
            kind !== RUN_ZERO && r.diskOffset >= p.place.diskOffset + o && r.diskOffset + r.imageValues[0]!.length <= p.place.diskOffset + o + l,
        ),
    );
    const tries = Math.min(...inside.map((r) => r.imageValues.length));
    for (let k = 0; inside.length && k < tries; k++) if (this.holdsAs(p, inside, k)) return { patches: inside, k };
    return undefined;
  }

  close(): void {
    for (const fd of this.fds.values()) closeSync(fd);
  }
}

/**
 * The answer to the portal's challenge that this PC holds the image (portal/tasks/proof.ts): SHA-256
 * over the nonce, then each named piece's data as the disk holds it, in run order (zero runs left
 * out, as the raw hash leaves them out). Bytes a deploy rewrote after the pieces are taken as the
 * image had them, so the answer is the image's when the disk holds it.
 */
export function proofOfPieces(pieces: PieceTarget[], indices: number[], nonce: string, rewritten: Rewritten[] = []): string {
  const proof = createHash('sha256').update(nonce);
  const reader = new PieceReader();
  try {
    for (const i of indices) {
      const p = pieces[i];
      if (!p) throw new Error(`the portal asked for piece ${i}, which this image does not have`);
      const as = reader.held(p, rewritten) ?? { patches: [], k: 0 };
      reader.walk(p, as.patches, as.k, (c) => proof.update(c), false);
    }
    return proof.digest('hex');
  } finally {
    reader.close();
  }
}

export function piecesOnDisk(pieces: PieceTarget[], rewritten: Rewritten[] = []): boolean[] {
  const reader = new PieceReader();
  try {
    const holds = (p: PieceTarget): boolean => !!reader.held(p, rewritten);
    /** False when the piece's first data block reads as zeros; pieces of zero runs alone tell nothing. */
    const probe = Buffer.allocUnsafe(PROBE_BYTES);
    const mayHold = (p: PieceTarget): boolean => {
      const run = p.ref.entry.runs.find(([, , kind]) => kind !== RUN_ZERO);
      if (!run) return false;
      const n = readSync(reader.fd(p.diskPath), probe, 0, Math.min(PROBE_BYTES, run[1]), p.place.diskOffset + run[0]);
      return n > 0 && !probe.subarray(0, n).equals(ZEROS.subarray(0, n));
    };
    const step = Math.max(1, Math.floor(pieces.length / SAMPLED_PIECES));
    const sample = pieces.filter((_, i) => i % step === 0);
    if (!sample.some((p) => mayHold(p) && holds(p))) return pieces.map(() => false);
    return pieces.map(holds);
  } finally {
    reader.close();
  }
}
