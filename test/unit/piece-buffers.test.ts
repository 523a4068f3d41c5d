/**
 * client/swarm/piece-buffers.ts with the real torrent-piece (the Piece webtorrent assembles): a
 * piece's blocks are joined byte for byte into a pooled buffer, a buffer is lent again only after
 * it was given back, and what was never lent is never kept.
 */
import { test } from '../suite.js';
import * as assert from 'uvu/assert';
import { randomBytes } from 'node:crypto';
import Piece from 'torrent-piece';
import { PieceBufferPool, pieceBuffers, usePieceBuffers } from '../../client/swarm/piece-buffers.js';

const BLOCK = 16 << 10;

interface TestPiece {
  reserve(): number;
  set(i: number, data: Uint8Array, source: unknown): boolean;
  flush(): Uint8Array | null;
}

/** A piece of `length` bytes filled from `data` one block at a time, in a shuffled order; its flush. */
function assemble(data: Buffer): Uint8Array | null {
  const piece = new Piece(data.length) as TestPiece;
  const blocks = Math.ceil(data.length / BLOCK);
  const order = [...Array(blocks).keys()].reverse();
  for (let i = 0; i < blocks; i++) piece.reserve();
  for (const i of order) piece.set(i, data.subarray(i * BLOCK, (i + 1) * BLOCK), 'peer');
  return piece.flush();
}

test('blocks are joined in order into a buffer lent again only once given back', () => {
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
  assert.is(third.buffer, first.buffer, 'the given-back buffer is joined into again');
  assert.is(pieceBuffers.reused, reusedBefore + 1);
  assert.ok(Buffer.from(third).equals(c), 'every byte of the old piece overwritten');
  assert.ok(Buffer.from(second).equals(b), 'a piece still lent is untouched');
  pieceBuffers.giveBack(second);
  pieceBuffers.giveBack(third);
});

test('a piece whose blocks do not add up is joined as torrent-piece would, and never lent', () => {
  usePieceBuffers();
  const piece = new Piece(2 * BLOCK) as TestPiece;
  piece.reserve();
  piece.reserve();
  piece.set(0, randomBytes(BLOCK), 'peer');
  piece.set(1, randomBytes(100), 'peer');
  const out = piece.flush()!;
  assert.is(out.length, 2 * BLOCK, "torrent-piece's join: the piece's length, what is missing left zero");
  const pool = pieceBuffers;
  const fresh = pool.fresh;
  pool.giveBack(out);
  pool.take(2 * BLOCK);
  assert.is(pool.fresh, fresh + 1, 'the buffer given back was not the pool’s, so it is not reused');
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
