/**
 * An import's packing (client/import/stream-packer.ts) with the real pack workers: every byte fed
 * in comes out of exactly one piece at its offset, however well it compresses, with each job's
 * leftover fed into the next segment rather than kept to the end.
 */
import { suite } from '../suite.js';
import * as assert from 'uvu/assert';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { randomBytes, randomUUID } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { packPool } from '../../client/piece-workers/piece-jobs.js';
import { SegmentBuffers, segmentBytes, StreamPacker } from '../../client/import/stream-packer.js';
import { decodePiece, parsePieceHeader } from '../../shared/image/piece-codec.js';

const T = suite('stream packer');
const KIB = 1024;
const MIB = 1024 * KIB;

T('every byte in exactly one piece at its offset: text that packs 1,000 to 1, random bytes, zeros, gaps', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'shoal-stream-packer-'));
  const pieceLength = 64 * KIB;
  const imageId = randomUUID();
  const pool = packPool({ pieceLength, zstdLevel: 3, imageId, counters: new SharedArrayBuffer(4) });
  try {
    // 40 MiB over three stretches, a gap between them: far more than one segment each, and the
    // text alone would leave whole segments over if leftovers waited for the end.
    const text = Buffer.from('the same line of a lab disk, again and again\n'.repeat(500_000)).subarray(0, 20 * MIB);
    const random = randomBytes(12 * MIB);
    const zeros = Buffer.alloc(8 * MIB);
    const source = [
      { offset: 0, bytes: text },
      { offset: 24 * MIB, bytes: random },
      { offset: 40 * MIB, bytes: zeros },
    ];
    const pieceFile = join(dir, 'd0p1.pieces');
    let jobs = 0;
    const packer = await StreamPacker.create(pool, new SegmentBuffers(segmentBytes(pieceLength)), { areaId: 'd0p1', slot: 0, pieceFile }, () => jobs++);
    for (const { offset, bytes } of source) for (let at = 0; at < bytes.length; at += 100_000) await packer.add(offset + at, bytes.subarray(at, at + 100_000));
    const pieces = await packer.finish();
    assert.ok(jobs >= 3, `${jobs} jobs: more than one segment`);
    const file = readFileSync(pieceFile);
    assert.is(file.length, pieces.length * pieceLength);
    const seen = Buffer.alloc(48 * MIB, 0xee);
    let covered = 0;
    for (let i = 0; i < pieces.length; i++) {
      const bytes = file.subarray(i * pieceLength, (i + 1) * pieceLength);
      const header = parsePieceHeader(bytes);
      assert.equal(header.runs, pieces[i]!.runs, `piece ${i}'s runs as reported`);
      decodePiece(bytes, header, (offset, length, chunk) => {
        if (chunk) chunk.copy(seen, offset);
        else seen.fill(0, offset, offset + length);
        covered += length;
      });
    }
    assert.is(covered, 40 * MIB, 'every byte once');
    for (const { offset, bytes } of source) assert.ok(seen.subarray(offset, offset + bytes.length).equals(bytes), `the bytes at ${offset}`);
    assert.ok(
      seen.subarray(20 * MIB, 24 * MIB).every((b) => b === 0xee),
      'the gap untouched',
    );
    // Full pieces: no more than one unfilled piece per job's end of area, not one per segment.
    const stored = pieces.length * pieceLength;
    assert.ok(stored < 12.5 * MIB + 24 * pieceLength, `${pieces.length} pieces for 12 MiB of random bytes and compressible rest`);
  } finally {
    await pool.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

T.run();
