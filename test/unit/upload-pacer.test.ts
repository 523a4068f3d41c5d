import { test } from '../suite.js';
import * as assert from 'uvu/assert';
import { randomBytes } from 'node:crypto';
import Wire from 'bittorrent-protocol';
import { UploadPacer } from '../../shared/webtorrent/upload-pacer.js';

const INFO_HASH = 'ab'.repeat(20);
const BLOCK = 16 * 1024;

/** A seeder-side wire and a PC-side wire piped to each other, handshaken, the PC unchoked. */
async function pair(pacer: UploadPacer, pcId: string): Promise<Wire> {
  const up = new Wire();
  const down = new Wire();
  up.pipe(down).pipe(up);
  up.on('request', (_index: number, _offset: number, length: number, respond: (err: Error | null, buf: Uint8Array) => void) =>
    respond(null, randomBytes(length)),
  );
  const unchoked = new Promise((resolve) => down.once('unchoke', resolve));
  up.once('handshake', () => {
    pacer.pace(up, 'test');
    up.unchoke();
  });
  down.handshake(INFO_HASH, pcId);
  up.handshake(INFO_HASH, 'cd'.repeat(20));
  await unchoked;
  return down;
}

const fetchBlock = (w: Wire, index: number, i: number, arrived: string[], tag: string): Promise<void> =>
  new Promise<void>((resolve, reject) => w.request(index, i * BLOCK, BLOCK, (err) => (err ? reject(err) : (arrived.push(tag), resolve()))));

test("one peer's piece goes out before another's, at no more than the rate", async () => {
  const rate = 1024 * 1024;
  const pacer = new UploadPacer(rate);
  try {
    const x = await pair(pacer, '11'.repeat(20));
    const y = await pair(pacer, '22'.repeat(20));
    await new Promise((r) => setTimeout(r, 600)); // a full bucket (half a second's worth)
    const arrived: string[] = [];
    const started = Date.now();
    // Asked for in turns: in the order asked, the two would alternate.
    await Promise.all(Array.from({ length: 32 }, (_, i) => [fetchBlock(x, 0, i, arrived, 'x'), fetchBlock(y, 1, i, arrived, 'y')]).flat());
    const seconds = (Date.now() - started) / 1000;
    // 1 MiB at 1 MiB/s with half a second in the bucket: not under half a second.
    assert.ok(seconds >= 0.45, `sent 1 MiB in ${seconds} s at 1 MiB/s`);
    assert.is(arrived.slice(0, 32).join(''), 'x'.repeat(32), `arrival order ${arrived.join('')}`);
  } finally {
    pacer.stop();
  }
});

test.run();
