import { test } from '../suite.js';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import type { PieceTarget } from '../../client/deploy/disk-piece-store.js';
import { planStash } from '../../client/deploy/reseed-stash.js';

const MiB = 1024 * 1024;
const PIECE = 256 * 1024;

/** Pieces of one partition (at `start`, `size` bytes) whose runs are the given [offset, length] pairs. */
function partitionPieces(areaId: string, start: number, size: number, runs: Array<[number, number]>, perPiece = 3): PieceTarget[] {
  const out: PieceTarget[] = [];
  for (let i = 0; i < runs.length; i += perPiece) {
    out.push({
      ref: {
        imageId: 'x',
        index: out.length,
        entry: { sha1: '', rawSha256: '', runs: runs.slice(i, i + perPiece).map(([o, l]) => [o, l, 0] as [number, number, 0]) },
      },
      place: { areaId, diskOffset: start, limitBytes: size },
      diskPath: '/dev/target',
      diskBytes: 1 << 40,
    });
  }
  return out;
}

test('stash slots lie in free blocks only: inside partitions, off every run, clear of the margins, never overlapping', () => {
  fc.assert(
    fc.property(fc.array(fc.tuple(fc.nat(60), fc.integer({ min: 1, max: 8 })), { minLength: 1, maxLength: 30 }), (raw) => {
      // Runs in 64 KiB units over a 64 MiB partition at 1 MiB, sorted and merged as a capture makes them.
      const start = 1 * MiB;
      const size = 64 * MiB;
      const runs = raw.map(([o, l]): [number, number] => [o * MiB, l * 64 * 1024]).sort((a, b) => a[0] - b[0]);
      const pieces = [...partitionPieces('d0p1', start, size, runs), ...partitionPieces('d0head', 0, 1 * MiB, [[0, 4096]])];
      const slots = planStash(pieces, PIECE);
      const taken: Array<[number, number]> = [];
      for (const [index, slot] of slots) {
        assert.ok(pieces[index], 'a real piece');
        assert.is(
          slot.extents.reduce((n, e) => n + e[1], 0),
          PIECE,
          'a whole piece',
        );
        for (const [off, len] of slot.extents) {
          assert.ok(off >= start + MiB && off + len <= start + size - MiB, 'inside the partition, clear of the margins');
          for (const [ro, rl] of runs) assert.ok(off + len <= start + ro || off >= start + ro + rl, 'off every run');
          for (const [to, tl] of taken) assert.ok(off + len <= to || off >= to + tl, 'no two slots overlap');
          taken.push([off, len]);
        }
      }
    }),
  );
});

test("the stash holds this PC's share first when not everything fits", () => {
  // 6 MiB less a run's 4 KiB free (8 MiB partition, two 1 MiB margins): room for 23 pieces of 256 KiB, 40 wanted.
  const pieces = Array.from({ length: 40 }, () => partitionPieces('d0p1', 0, 8 * MiB, [[MiB, 4096]], 1)[0]!).map((p, i) => ({
    ...p,
    ref: { ...p.ref, index: i },
  }));
  const slots = planStash(pieces, PIECE, (i) => i >= 30);
  assert.is(slots.size, 23);
  for (let i = 30; i < 40; i++) assert.ok(slots.has(i), `own-share piece ${i} stashed`);
});

test.run();
