/**
 * shared/webtorrent/wire-reads.ts with the real bittorrent-protocol: a wire that parses its reads
 * without joining them hears the same messages, byte for byte, however the bytes were cut into
 * reads: one byte at a time, a message split across three reads, many messages in one read.
 */
import { test } from '../suite.js';
import * as assert from 'uvu/assert';
import { randomBytes } from 'node:crypto';
import Wire from 'bittorrent-protocol';
import { useWireReads } from '../../shared/webtorrent/wire-reads.js';

const INFO_HASH = randomBytes(20).toString('hex');
const PEER_ID = randomBytes(20).toString('hex');

/** What a sending wire writes for a handshake, a have and `blocks` piece messages. */
async function sentBytes(blocks: Uint8Array[]): Promise<Buffer> {
  const a = new Wire();
  const out: Buffer[] = [];
  a.on('data', (c: Uint8Array) => out.push(Buffer.from(c)));
  a.handshake(INFO_HASH, PEER_ID);
  blocks.forEach((b, i) => a.piece(i, i * 16, b));
  await new Promise((r) => setTimeout(r, 50));
  a.destroy();
  return Buffer.concat(out);
}

type Heard = Array<{ index: number; offset: number; bytes: Buffer }>;

/** A receiving wire fed `bytes` in reads of the given sizes (cycled); the pieces it heard. */
async function heard(bytes: Buffer, sizes: number[]): Promise<{ handshake: string | undefined; pieces: Heard }> {
  const b = new Wire();
  const pieces: Heard = [];
  let handshake: string | undefined;
  b.on('handshake', (infoHash: string) => (handshake = infoHash));
  b.on('piece', (index: number, offset: number, buf: Uint8Array) => pieces.push({ index, offset, bytes: Buffer.from(buf) }));
  b.on('error', () => {});
  for (let at = 0, i = 0; at < bytes.length; i++) {
    const n = sizes[i % sizes.length]!;
    b.write(bytes.subarray(at, at + n));
    at += n;
  }
  await new Promise((r) => setTimeout(r, 50));
  b.destroy();
  return { handshake, pieces };
}

test('the same messages whatever the reads: single bytes, spans of three reads, many messages at once', async () => {
  const blocks = [randomBytes(16 * 1024), randomBytes(16 * 1024), randomBytes(7), randomBytes(16 * 1024)];
  const bytes = await sentBytes(blocks);
  const before = await heard(bytes, [bytes.length]);
  useWireReads();
  for (const sizes of [[1], [5000, 3, 17, 20000], [65536], [6000], [bytes.length]]) {
    const got = await heard(bytes, sizes);
    assert.is(got.handshake, INFO_HASH, `the handshake (reads of ${sizes.join(', ')})`);
    assert.is(got.pieces.length, blocks.length, `every piece message (reads of ${sizes.join(', ')})`);
    got.pieces.forEach((p, i) => {
      assert.is(p.index, i);
      assert.is(p.offset, i * 16);
      assert.ok(p.bytes.equals(blocks[i]!), `block ${i}'s bytes (reads of ${sizes.join(', ')})`);
    });
    assert.equal(got, before, 'as the original parser heard them');
  }
});

test.run();
