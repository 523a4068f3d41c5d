import { test } from '../suite.js';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import { randomBytes, randomUUID } from 'node:crypto';
import { PiecePacker, parsePieceHeader, headerBytes } from '../../shared/image/piece-codec.js';
import { applyPiece, type AreaPlacement } from '../../shared/image/piece-map.js';
import { RUN_DATA, RUN_ZERO, type Run } from '../../shared/image/manifest.js';

/** Builds an area whose bytes mix random, repetitive and zero stretches. */
function makeArea(size: number, seed: number): Buffer {
  const area = Buffer.alloc(size);
  let at = 0;
  let s = seed;
  while (at < size) {
    s = (s * 1103515245 + 12345) >>> 0;
    const len = Math.min(size - at, 1 + (s % 40000));
    const kind = s % 3;
    if (kind === 0) randomBytes(len).copy(area, at);
    else if (kind === 1) area.fill(`text ${s % 97} `, at, at + len);
    at += len;
  }
  return area;
}

interface Packed {
  bytes: Buffer;
  runs: Run[];
  rawSha256: string;
  sha1: string;
  rawBytes: number;
}

function packExtents(area: Buffer, extents: Array<[number, number]>, pieceLength: number, imageId: string): Packed[] {
  const packer = new PiecePacker(pieceLength, 3);
  const pieces: Packed[] = [];
  const close = () => {
    const p = packer.close({ imageId, areaId: 'd0p1', index: pieces.length });
    pieces.push(p);
  };
  for (const [off, len] of extents) {
    let done = 0;
    while (done < len) {
      const took = packer.add(off + done, area.subarray(off + done, off + len));
      done += took;
      if (done < len) close();
    }
  }
  if (!packer.isEmpty) close();
  return pieces;
}

/** Random disjoint extents inside [0, size). */
const extentsArb = (size: number) =>
  fc.uniqueArray(fc.integer({ min: 0, max: size - 1 }), { minLength: 2, maxLength: 40 }).map((cuts) => {
    const sorted = [...cuts].sort((a, b) => a - b);
    const out: Array<[number, number]> = [];
    for (let i = 0; i + 1 < sorted.length; i += 2) out.push([sorted[i]!, sorted[i + 1]! - sorted[i]!]);
    return out.filter(([, l]) => l > 0);
  });

test('every captured byte lands exactly once, at its offset, never outside the area', () => {
  const size = 3 << 20;
  const area = makeArea(size, 7);
  fc.assert(
    fc.property(extentsArb(size), fc.constantFrom(64 << 10, 128 << 10, 256 << 10), fc.integer({ min: 0, max: 1 << 20 }), (extents, pieceLength, diskOffset) => {
      const imageId = randomUUID();
      const pieces = packExtents(area, extents, pieceLength, imageId);
      const diskBytes = diskOffset + size + 4096;
      const disk = Buffer.alloc(diskBytes, 0xee);
      const writes = new Uint8Array(diskBytes);
      const place: AreaPlacement = { areaId: 'd0p1', diskOffset, limitBytes: size };
      // Any order: the swarm delivers pieces as they come.
      const order = pieces.map((_, i) => i).reverse();
      for (const i of order) {
        const p = pieces[i]!;
        assert.is(p.bytes.length, pieceLength);
        applyPiece(
          p.bytes,
          { imageId, index: i, entry: { sha1: p.sha1, rawSha256: p.rawSha256, runs: p.runs } },
          place,
          diskBytes,
          (at, len, chunk) => {
            assert.ok(at >= diskOffset && at + len <= diskOffset + size, 'write outside the area');
            if (chunk) chunk.copy(disk, at);
            else disk.fill(0, at, at + len);
            for (let b = at; b < at + len; b++) writes[b]!++;
          },
          { checkRaw: true },
        );
      }
      for (const [off, len] of extents) {
        assert.ok(disk.subarray(diskOffset + off, diskOffset + off + len).equals(area.subarray(off, off + len)), 'extent content');
        for (let b = off; b < off + len; b++) assert.is(writes[diskOffset + b], 1, `byte ${b} written once`);
      }
      const covered = extents.reduce((n, [, l]) => n + l, 0);
      assert.is(
        writes.reduce((n, w) => n + w, 0),
        covered,
        'no byte outside the extents is written',
      );
    }),
    { numRuns: 25 },
  );
});

test('pieces are filled close to their length', () => {
  const size = 8 << 20;
  const area = Buffer.alloc(size);
  for (let i = 0; i < size; i += 64) area.write(`line ${(i * 2654435761) % 1000003} of text\n`, i);
  const pieces = packExtents(area, [[0, size]], 256 << 10, randomUUID());
  for (const p of pieces.slice(0, -1)) {
    const h = parsePieceHeader(p.bytes);
    const fill = (h.headerBytes + h.compressedBytes) / p.bytes.length;
    assert.ok(fill > 0.98, `piece filled to ${(fill * 100).toFixed(1)} %`);
  }
});

test('all-zero blocks become zero runs and cost no data', () => {
  const area = Buffer.alloc(1 << 20);
  randomBytes(5000).copy(area, 70000);
  const [p] = packExtents(area, [[0, area.length]], 256 << 10, randomUUID());
  const h = parsePieceHeader(p!.bytes);
  assert.equal(
    h.runs.map((r) => r[2]),
    [RUN_ZERO, RUN_DATA, RUN_ZERO],
  );
  assert.ok(h.compressedBytes < 6000);
  assert.is(h.headerBytes, headerBytes(3));
});

test('a corrupt piece, a foreign piece and a run past its area are refused before any write', () => {
  const imageId = randomUUID();
  const area = makeArea(1 << 20, 3);
  const [p] = packExtents(area, [[0, 200000]], 256 << 10, imageId);
  const entry = { sha1: p!.sha1, rawSha256: p!.rawSha256, runs: p!.runs };
  const place: AreaPlacement = { areaId: 'd0p1', diskOffset: 0, limitBytes: 1 << 20 };
  const noWrite = () => assert.unreachable('wrote');
  const corrupt = Buffer.from(p!.bytes);
  corrupt[1000] = corrupt[1000]! ^ 0xff;
  assert.throws(() => applyPiece(corrupt, { imageId, index: 0, entry }, place, 1 << 21, noWrite), /piece 0 of d0p1 is corrupt/);
  assert.throws(() => applyPiece(p!.bytes, { imageId: randomUUID(), index: 0, entry }, place, 1 << 21, noWrite), /names d0p1#0 of image/);
  assert.throws(() => applyPiece(p!.bytes, { imageId, index: 0, entry }, { ...place, limitBytes: 100000 }, 1 << 21, noWrite), /leaves area d0p1/);
  assert.throws(() => applyPiece(p!.bytes, { imageId, index: 0, entry }, { ...place, diskOffset: 1 << 21 }, 1 << 21, noWrite), /leaves the/);
  const wrongRaw = { ...entry, rawSha256: '0'.repeat(64) };
  assert.throws(
    () => applyPiece(p!.bytes, { imageId, index: 0, entry: wrongRaw }, place, 1 << 21, () => {}, { checkRaw: true }),
    /decompressed data fails its hash/,
  );
});

test('a reused piece buffer carries nothing of the piece before', () => {
  const packer = new PiecePacker(64 << 10, 3);
  const buf = Buffer.alloc(64 << 10, 0x77);
  const imageId = randomUUID();
  packer.add(0, randomBytes(20000));
  packer.close({ imageId, areaId: 'd1head', index: 9 }, buf);
  packer.add(0, Buffer.alloc(5000, 1));
  const p = packer.close({ imageId, areaId: 'd1p1', index: 0 }, buf);
  const h = parsePieceHeader(p.bytes);
  assert.is(h.areaId, 'd1p1');
  assert.ok(
    p.bytes.subarray(h.headerBytes + h.compressedBytes).every((b) => b === 0),
    'padding is zero',
  );
});

test('one piece covers at most 256 pieces of zeros', () => {
  const packer = new PiecePacker(64 << 10, 3);
  const taken = packer.addZero(0, 1e12);
  assert.is(taken, 256 * (64 << 10));
  assert.is(packer.addZero(taken, 100), 0, 'full: the caller closes the piece');
});

test('headers that lie are refused', () => {
  assert.throws(() => parsePieceHeader(Buffer.alloc(100)), /bad magic/);
  const imageId = randomUUID();
  const [p] = packExtents(makeArea(1 << 18, 9), [[0, 1 << 17]], 64 << 10, imageId);
  const lie = Buffer.from(p!.bytes);
  lie.writeUInt32LE(99, 20);
  assert.throws(() => parsePieceHeader(lie), /run count/);
});

test.run();
