/**
 * client/swarm/piece-buffers.ts with the real torrent-piece (the Piece webtorrent assembles): blocks
 * are asked for in SWARM_BLOCK_BYTES and copied to their place in a pooled buffer as they come, a
 * buffer is lent again only after it was given back, and what was never lent is never kept.
 */
import { test } from '../suite.js';
import * as assert from 'uvu/assert';
import { randomBytes } from 'node:crypto';
import Piece from 'torrent-piece';
import Wire from 'bittorrent-protocol';
import { PieceBufferPool, pieceBuffers, SWARM_BLOCK_BYTES, swarmBlockBytes, usePieceBuffers } from '../../client/swarm/piece-buffers.js';

// The block length is the process's: the first call sets it (no other unit test joins a swarm).
const BLOCK = usePieceBuffers(SWARM_BLOCK_BYTES);

interface TestPiece {
  missing: number;
  reserve(): number;
  reserveRemaining(): number;
  chunkLength(i: number): number;
  chunkOffset(i: number): number;
  set(i: number, data: Uint8Array, source: unknown): boolean;
  flush(): Uint8Array | null;
}

/** A piece of `data`'s length, asked for block by block and filled in reverse order; its flush. */
function assemble(data: Buffer): Uint8Array | null {
  const piece = new Piece(data.length) as TestPiece;
  const asked: number[] = [];
  for (let i = piece.reserve(); i >= 0; i = piece.reserve()) asked.push(i);
  assert.is(asked.length, Math.ceil(data.length / BLOCK), 'the piece is asked for in blocks of SWARM_BLOCK_BYTES');
  for (const i of asked.reverse()) {
    const at = piece.chunkOffset(i);
    piece.set(i, data.subarray(at, at + piece.chunkLength(i)), 'peer');
  }
  assert.is(piece.missing, 0);
  return piece.flush();
}

test('webtorrent is told the block length, and the last block is what is left of the piece', () => {
  usePieceBuffers();
  assert.is((Piece as unknown as { BLOCK_LENGTH: number }).BLOCK_LENGTH, BLOCK, 'webtorrent sizes its request pipeline by it');
  assert.ok(BLOCK > 16 << 10 && BLOCK <= 128 << 10, 'more than the custom 16 KiB, no more than webtorrent serves');
  const piece = new Piece(3 * BLOCK + 5) as TestPiece;
  assert.equal([piece.reserve(), piece.reserve(), piece.reserve(), piece.reserve(), piece.reserve()], [0, 1, 2, 3, -1]);
  assert.equal([piece.chunkOffset(3), piece.chunkLength(2), piece.chunkLength(3)], [3 * BLOCK, BLOCK, 5]);
  assert.is(usePieceBuffers(16 << 10), BLOCK, 'a process keeps the block length it began with');
  assert.throws(() => usePieceBuffers(256 << 10), /16 to 128 KiB/, 'webtorrent drops a wire asking for more than 128 KiB');
});

test('an image is asked for in blocks of a sixteenth of its pieces, 16 to 64 KiB', () => {
  const KiB = 1024;
  assert.equal(
    [64, 256, 512, 1024, 4096, 65536].map((k) => swarmBlockBytes(k * KiB) / KiB),
    [16, 16, 32, 64, 64, 64],
  );
  assert.is(SWARM_BLOCK_BYTES, 64 * KiB);
});

test('blocks land in order in a buffer lent again only once given back', () => {
  usePieceBuffers();
  const a = randomBytes(4 * BLOCK + 123);
  const b = randomBytes(4 * BLOCK + 123);
  const c = randomBytes(4 * BLOCK + 123);
  const first = assemble(a)!;
  assert.ok(Buffer.from(first).equals(a), 'the piece is its blocks in order');
  const second = assemble(b)!;
  assert.ok(Buffer.from(second).equals(b));
  assert.is.not(second.buffer, first.buffer, 'a lent buffer is not lent twice');
  pieceBuffers.giveBack(first);
  const reusedBefore = pieceBuffers.reused;
  const third = assemble(c)!;
  assert.is(third.buffer, first.buffer, 'the given-back buffer is filled again');
  assert.is(pieceBuffers.reused, reusedBefore + 1);
  assert.ok(Buffer.from(third).equals(c), 'every byte of the old piece overwritten');
  assert.ok(Buffer.from(second).equals(b), 'a piece still lent is untouched');
  pieceBuffers.giveBack(second);
  pieceBuffers.giveBack(third);
});

test('a block is copied as it comes: the socket read it was a view of can be reused at once', () => {
  usePieceBuffers();
  const data = randomBytes(2 * BLOCK);
  const piece = new Piece(data.length) as TestPiece;
  piece.reserve();
  piece.reserve();
  const read = Buffer.from(data.subarray(0, BLOCK));
  piece.set(0, read, 'peer');
  read.fill(0xee); // the next socket read lands in the same memory
  piece.set(1, data.subarray(BLOCK), 'peer');
  assert.ok(Buffer.from(piece.flush()!).equals(data));
});

test('a block whose message spans two socket reads lands whole, joined in memory its wire lends again', async () => {
  usePieceBuffers();
  const data = randomBytes(4 * BLOCK);
  // What a seeder's wire sends: a handshake and a piece message per block (9 bytes more than a block).
  const sender = new Wire();
  const sent: Buffer[] = [];
  sender.on('data', (c: Uint8Array) => sent.push(Buffer.from(c)));
  sender.handshake(randomBytes(20).toString('hex'), randomBytes(20).toString('hex'));
  for (let i = 0; i < 4; i++) sender.piece(0, i * BLOCK, data.subarray(i * BLOCK, (i + 1) * BLOCK));
  await new Promise((r) => setTimeout(r, 20));
  sender.destroy();
  const bytes = Buffer.concat(sent);

  // A PC's wire reads them in socket reads of a block each, so every message spans two reads,
  // and hands each block to the piece as webtorrent does, which copies it before the call returns.
  const piece = new Piece(data.length) as TestPiece;
  for (let i = 0; i < 4; i++) piece.reserve();
  const receiver = new Wire();
  const memories = new Set<ArrayBufferLike>();
  receiver.on('piece', (_index: number, offset: number, block: Uint8Array) => {
    memories.add(block.buffer);
    piece.set(offset / BLOCK, block, 'seeder');
  });
  receiver.on('error', () => {});
  for (let at = 0; at < bytes.length; at += BLOCK) receiver.write(bytes.subarray(at, at + BLOCK));
  await new Promise((r) => setTimeout(r, 20));
  receiver.destroy();
  const out = piece.flush();
  assert.ok(out && Buffer.from(out).equals(data), "every block in its place, none overwritten by the next one's join");
  assert.is(memories.size, 1, 'the blocks were joined in one buffer the wire kept, not in fresh memory each');
  pieceBuffers.giveBack(out);
});

test('a block sent twice counts once; a short block leaves the piece for its SHA-1 to refuse', () => {
  usePieceBuffers();
  const data = randomBytes(2 * BLOCK);
  const twice = new Piece(data.length) as TestPiece;
  twice.reserve();
  twice.reserve();
  assert.is(twice.set(0, data.subarray(0, BLOCK), 'a'), false);
  assert.is(twice.set(0, randomBytes(BLOCK), 'b'), false, 'the second copy of block 0 does not complete the piece');
  assert.is(twice.missing, BLOCK);
  assert.is(twice.set(1, data.subarray(BLOCK), 'a'), true);
  assert.ok(Buffer.from(twice.flush()!).equals(data), 'the first copy of block 0 is kept');

  const short = new Piece(2 * BLOCK) as TestPiece;
  short.reserve();
  short.reserve();
  short.set(0, data.subarray(0, BLOCK), 'a');
  assert.is(short.set(1, data.subarray(BLOCK, BLOCK + 100), 'a'), true, "every block came: webtorrent checks the piece's SHA-1 next");
  assert.is(short.missing, BLOCK - 100);
  const out = short.flush()!;
  assert.is(out.length, 2 * BLOCK);
  assert.not.ok(Buffer.from(out).equals(data), 'what the short block left out is not the piece');
  pieceBuffers.giveBack(out);
});

test('a web seed sends the rest of a piece in one answer', () => {
  usePieceBuffers();
  const data = randomBytes(3 * BLOCK + 7);
  const piece = new Piece(data.length) as TestPiece;
  assert.is(piece.reserve(), 0);
  piece.set(0, data.subarray(0, BLOCK), 'peer');
  const from = piece.reserveRemaining();
  assert.is(from, 1);
  assert.is(piece.set(from, data.subarray(from * BLOCK), 'webseed'), true);
  assert.ok(Buffer.from(piece.flush()!).equals(data));
  assert.is(piece.flush(), null, 'a piece is flushed once');
});

test('the pool: only its own buffers come back, once, of the size asked, and few are kept', () => {
  const pool = new PieceBufferPool();
  const x = pool.take(1000);
  pool.giveBack(new Uint8Array(1000)); // never lent
  pool.giveBack(x);
  pool.giveBack(x); // twice
  const y = pool.take(1000);
  const z = pool.take(1000);
  assert.is(y.buffer, x.buffer);
  assert.is.not(z.buffer, x.buffer, 'given back twice, lent once');
  assert.is(pool.take(999).length, 999, 'another size: a buffer of its own');
  const many = Array.from({ length: 10 }, () => pool.take(64));
  for (const m of many) pool.giveBack(m);
  const freshBefore = pool.fresh;
  for (let i = 0; i < 10; i++) pool.take(64);
  assert.is(pool.fresh - freshBefore, 6, 'four spares kept, the rest left to the collector');
});

test.run();
