import { test } from '../suite.js';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import { layoutFor } from '../../client/disk/layout.js';
import type { Disk, Partition } from '../../shared/image/manifest.js';

const MiB = 1024 * 1024;
const part = (number: number, startMiB: number, sizeMiB: number, extra: Partial<Partition> = {}): Partition => ({
  number,
  startBytes: startMiB * MiB,
  sizeBytes: sizeMiB * MiB,
  type: '0FC63DAF-8483-4772-8E79-3D69D8477DE4',
  filesystem: 'ext4',
  fsSizeBytes: extra.resizable ? (extra.minSizeBytes ?? sizeMiB * MiB) : sizeMiB * MiB,
  minSizeBytes: sizeMiB * MiB,
  resizable: false,
  ...extra,
});
const disk = (kind: 'gpt' | 'dos', sizeMiB: number, partitions: Partition[]): Disk => ({
  index: 0,
  sizeBytes: sizeMiB * MiB,
  logicalSectorBytes: 512,
  table: { kind, firstLba: 34 },
  partitions,
  areas: [],
});

test('resizable GPT layout: fixed partitions keep their size, the others fill the disk, nothing overlaps', () => {
  fc.assert(
    fc.property(
      fc.array(
        fc.record({
          size: fc.integer({ min: 8, max: 400 }),
          min: fc.integer({ min: 1, max: 100 }),
          odd: fc.integer({ min: 0, max: MiB - 1 }),
          resizable: fc.boolean(),
        }),
        { minLength: 1, maxLength: 6 },
      ),
      fc.integer({ min: 100, max: 8000 }),
      (specs, targetMiB) => {
        let at = 1;
        const parts = specs.map((s, i) => {
          // Minimums that are not whole MiB, as a filesystem's size after a shrink often is.
          const min = Math.max(4096, Math.min(s.min, s.size) * MiB - s.odd);
          const p = part(i + 1, at, s.size, s.resizable ? { resizable: true, minSizeBytes: min, fsSizeBytes: min } : {});
          at += s.size;
          return p;
        });
        const d = disk('gpt', at + 1, parts);
        const target = targetMiB * MiB;
        let placed;
        try {
          placed = layoutFor('resizable', d, target, 't');
        } catch (e) {
          assert.match((e as Error).message, /too small/);
          const need = 1 + parts.reduce((n, p) => n + Math.ceil((p.resizable ? p.minSizeBytes : p.sizeBytes) / MiB), 0);
          assert.ok(targetMiB < need + 1, `refused a ${targetMiB} MiB disk needing ${need} MiB`);
          return;
        }
        const usableEnd = target - 33 * 512;
        const sorted = [...placed].sort((a, b) => a.startBytes - b.startBytes);
        for (const [i, p] of sorted.entries()) {
          const src = parts.find((q) => q.number === p.number)!;
          assert.is(p.startBytes % MiB, 0, 'aligned');
          assert.ok(p.startBytes + p.sizeBytes <= usableEnd, 'inside the disk');
          if (i > 0) assert.ok(p.startBytes >= sorted[i - 1]!.startBytes + sorted[i - 1]!.sizeBytes, 'no overlap');
          if (!src.resizable) assert.is(p.sizeBytes, src.sizeBytes, 'fixed size kept');
          else assert.ok(p.sizeBytes >= src.minSizeBytes && p.sizeBytes >= src.fsSizeBytes, 'at least its minimum and its filesystem');
          assert.equal([p.type, p.number], [src.type, src.number]);
        }
        if (parts.some((p) => p.resizable)) {
          const end = Math.max(...placed.map((p) => p.startBytes + p.sizeBytes));
          assert.ok(usableEnd - end < MiB, `fills the disk (${(usableEnd - end) / MiB} MiB left)`);
        }
      },
    ),
    { numRuns: 300 },
  );
});

test('resizable MBR layout keeps logical partitions inside their extended partition', () => {
  const d = disk('dos', 400, [
    part(1, 1, 120, { resizable: true, minSizeBytes: 30 * MiB }),
    part(2, 121, 279, { filesystem: 'extended', type: '5' }),
    part(5, 122, 140, { resizable: true, minSizeBytes: 20 * MiB }),
    part(6, 263, 137, { filesystem: 'ntfs', type: '7', resizable: true, minSizeBytes: 40 * MiB }),
  ]);
  for (const size of [150, 400, 2000]) {
    const placed = new Map(layoutFor('resizable', d, size * MiB, 't').map((p) => [p.number, p]));
    const ext = placed.get(2)!;
    for (const n of [5, 6]) {
      const l = placed.get(n)!;
      assert.ok(l.startBytes > ext.startBytes && l.startBytes + l.sizeBytes <= ext.startBytes + ext.sizeBytes, `logical ${n} inside`);
    }
    assert.ok(placed.get(5)!.startBytes + placed.get(5)!.sizeBytes < placed.get(6)!.startBytes, 'room for the EBR');
    assert.ok(ext.startBytes + ext.sizeBytes <= size * MiB);
  }
  assert.throws(() => layoutFor('resizable', d, 80 * MiB, 'small.img'), /disk small\.img is too small/);
});

test('an empty extended partition, and the unused tail of one, cost no room', () => {
  const empty = disk('dos', 16000, [
    part(1, 1, 4000, { resizable: true, minSizeBytes: 2000 * MiB }),
    part(2, 4001, 8000, { filesystem: 'extended', type: '5' }),
    part(3, 12001, 3998, { resizable: true, minSizeBytes: 1000 * MiB }),
  ]);
  const placed = layoutFor('resizable', empty, 16000 * MiB, 't');
  assert.is(placed.find((p) => p.number === 2)!.sizeBytes, 8000 * MiB, 'the empty extended partition keeps its size');
  assert.throws(() => layoutFor('resizable', empty, 10000 * MiB, 'small.img'), /needs at least 10\.7 GiB/);
  const tail = disk('dos', 16000, [
    part(1, 1, 1000, { resizable: true, minSizeBytes: 500 * MiB }),
    part(2, 1001, 10000, { filesystem: 'extended', type: '5' }),
    part(5, 1002, 4000, { resizable: true, minSizeBytes: 1000 * MiB }),
    part(3, 11001, 4998, { resizable: true, minSizeBytes: 1000 * MiB }),
  ]);
  const t = new Map(layoutFor('resizable', tail, 4000 * MiB, 't').map((p) => [p.number, p]));
  const ext = t.get(2)!;
  assert.is(ext.startBytes + ext.sizeBytes, t.get(5)!.startBytes + t.get(5)!.sizeBytes, 'extended ends with its last logical');
  assert.ok(t.get(3)!.startBytes - (ext.startBytes + ext.sizeBytes) <= MiB, 'no dead space after the extended partition');
});

test('a partition is never smaller than its filesystem, even with a minimum that is not whole MiB', () => {
  const d = disk('gpt', 8000, [part(1, 1, 7843, { resizable: true, minSizeBytes: 8225280000, fsSizeBytes: 8225280000 }), part(2, 7844, 100)]);
  assert.throws(() => layoutFor('resizable', d, 7945 * MiB + 300 * 1024, 't'), /too small/);
  const placed = layoutFor('resizable', d, 7947 * MiB, 't');
  assert.ok(placed[0]!.sizeBytes >= 8225280000);
  assert.ok(placed[1]!.startBytes >= placed[0]!.startBytes + placed[0]!.sizeBytes);
});

test('multipart keeps every partition where it was and refuses a smaller disk', () => {
  const d = disk('gpt', 500, [part(1, 1, 100), part(2, 101, 300)]);
  assert.equal(
    layoutFor('multipart', d, 600 * MiB, 't').map((p) => [p.startBytes, p.sizeBytes]),
    [
      [MiB, 100 * MiB],
      [101 * MiB, 300 * MiB],
    ],
  );
  assert.throws(() => layoutFor('multipart', d, 499 * MiB, 'x.img'), /disk x\.img is too small: 499\.0 MiB, the multipart image needs 500\.0 MiB/);
});

test.run();
