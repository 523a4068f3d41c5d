import { test } from '../suite.js';
import * as assert from 'uvu/assert';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PiecePacker } from '../../shared/image/piece-codec.js';
import { DiskPieceStore, type PieceTarget } from '../../client/deploy/disk-piece-store.js';
import type { StashSlot } from '../../client/deploy/reseed-stash.js';
import { PieceBufferPool } from '../../client/swarm/piece-buffers.js';

const PIECE = 64 << 10;
const AREA = 256 << 10;

/** Four pieces of random data (they do not compress, so each covers about a piece of the area). */
function setup() {
  const dir = mkdtempSync(join(tmpdir(), 'shoal-store-'));
  const diskPath = join(dir, 'disk.img');
  const diskBytes = 4 * AREA;
  writeFileSync(diskPath, Buffer.alloc(diskBytes));
  const area = randomBytes(AREA);
  const imageId = randomUUID();
  const packer = new PiecePacker(PIECE, 3);
  const packed: Array<ReturnType<PiecePacker['close']>> = [];
  for (let done = 0; done < AREA;) {
    done += packer.add(done, area.subarray(done));
    if (done < AREA || !packer.isEmpty) packed.push(packer.close({ imageId, areaId: 'd0p1', index: packed.length }));
  }
  const pieces: PieceTarget[] = packed.map((p, index) => ({
    ref: { imageId, index, entry: { sha1: p.sha1, rawSha256: p.rawSha256, runs: p.runs } },
    place: { areaId: 'd0p1', diskOffset: 0, limitBytes: AREA },
    diskPath,
    diskBytes,
  }));
  // Each piece's stash slot lies past the area, in two extents so that a read spans both.
  const stash = new Map<number, StashSlot>(
    packed.map((_, i) => {
      const at = 2 * AREA + i * 2 * PIECE;
      return [
        i,
        {
          diskPath,
          extents: [
            [at, PIECE / 2],
            [at + PIECE, PIECE / 2],
          ],
        },
      ];
    }),
  );
  return { dir, diskPath, area, packed, pieces, stash };
}

const get = (store: DiskPieceStore, index: number, opts: { offset?: number; length?: number } = {}): Promise<Buffer> =>
  new Promise((resolve, reject) => store.get(index, opts, (err, buf) => (err ? reject(err) : resolve(buf!))));

test('pieces stay in the cache first; one pushed out goes to its stash slot only while a peer lacks it', async () => {
  const { dir, diskPath, area, packed, pieces, stash } = setup();
  try {
    assert.ok(packed.length >= 4, `${packed.length} pieces`);
    const lacked = new Set([0]);
    const store = new DiskPieceStore(16 << 10, { shoal: { pieces, stash, cacheBytes: 2 * PIECE, peersLack: (i) => lacked.has(i) } });
    for (const [i, p] of packed.entries()) await new Promise<void>((resolve, reject) => store.put(i, p.bytes, (err) => (err ? reject(err) : resolve())));
    const disk = readFileSync(diskPath);
    assert.ok(disk.subarray(0, AREA).equals(area), 'every piece is written to its runs');
    // Piece 0 was pushed out while a peer lacked it: it is served from the stash, both extents.
    assert.ok((await get(store, 0)).equals(packed[0]!.bytes));
    assert.ok((await get(store, 0, { offset: PIECE / 2 - 100, length: 200 })).equals(packed[0]!.bytes.subarray(PIECE / 2 - 100, PIECE / 2 + 100)));
    // Piece 1 was pushed out when every peer had it: not kept, and its slot was never written.
    await get(store, 1).then(
      () => assert.unreachable('piece 1 should be gone'),
      (err: Error) => assert.match(err.message, /not held/),
    );
    assert.ok(disk.subarray(2 * AREA + 2 * PIECE, 2 * AREA + 4 * PIECE).equals(Buffer.alloc(2 * PIECE)), 'no stash write for piece 1');
    // The last two are still in the cache.
    const last = packed.length - 1;
    assert.ok((await get(store, last)).equals(packed[last]!.bytes));
    store.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a piece leaving the cache gives its buffer back; what was served from it stays as served', async () => {
  const { dir, packed, pieces } = setup();
  try {
    const pool = new PieceBufferPool();
    const store = new DiskPieceStore(16 << 10, { shoal: { pieces, cacheBytes: 2 * PIECE, giveBack: (b) => pool.giveBack(b) } });
    const put = (i: number): Promise<Uint8Array> => {
      const buf = pool.take(packed[i]!.bytes.length);
      buf.set(packed[i]!.bytes);
      return new Promise((resolve, reject) => store.put(i, Buffer.from(buf.buffer), (err) => (err ? reject(err) : resolve(buf))));
    };
    const first = await put(0);
    const served = await get(store, 0, { offset: 100, length: 1000 });
    await put(1);
    await put(2); // over two pieces: piece 0 leaves the cache
    const reused = pool.take(first.length);
    assert.is(reused.buffer, first.buffer, "piece 0's buffer came back to the pool");
    reused.fill(0xee);
    assert.ok(served.equals(packed[0]!.bytes.subarray(100, 1100)), 'a block served before is a copy, not a view of the reused buffer');
    store.close();
    assert.is(pool.take(packed[1]!.bytes.length).buffer.byteLength, packed[1]!.bytes.length);
    assert.is(pool.reused, 2, 'closing gives back what the cache held');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
