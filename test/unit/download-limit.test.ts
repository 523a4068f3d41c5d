import { test } from '../suite.js';
import * as assert from 'uvu/assert';
import { fairDownloadGroup } from '../../client/swarm/download-limit.js';

const KiB = 1024;
const RATE = 1024 * KiB;

interface Flow {
  bytes: number;
  firstAt: number;
  write(b: Uint8Array): void;
  destroy(): void;
}

function flow(group: ReturnType<typeof fairDownloadGroup>): Flow {
  const t = group.throttle();
  const f: Flow = { bytes: 0, firstAt: 0, write: (b) => t.write(b), destroy: () => t.destroy() };
  t.on('data', (d: Uint8Array) => {
    f.firstAt ||= Date.now();
    f.bytes += d.length;
  });
  return f;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

test('a connection whose data keeps coming does not hold back a short message on another', async () => {
  const group = fairDownloadGroup(RATE);
  try {
    const busy = flow(group);
    for (let i = 0; i < 48; i++) busy.write(new Uint8Array(64 * KiB)); // 3 s of data at the limit
    await sleep(400);
    const quiet = flow(group);
    const sentAt = Date.now();
    quiet.write(new Uint8Array(9)); // an `interested` or a `have`
    await sleep(500);
    assert.ok(quiet.firstAt > 0, 'the short message got through');
    // It waits behind at most one 16 KiB slice of the busy one (16 ms at the limit), plus timers.
    assert.ok(quiet.firstAt - sentAt < 250, `the short message waited ${quiet.firstAt - sentAt} ms`);
    busy.destroy();
    quiet.destroy();
  } finally {
    group.destroy();
  }
});

test('two busy connections share the limit about evenly, and together stay within it', async () => {
  const group = fairDownloadGroup(RATE);
  try {
    const a = flow(group);
    const b = flow(group);
    for (let i = 0; i < 32; i++) a.write(new Uint8Array(64 * KiB));
    for (let i = 0; i < 32; i++) b.write(new Uint8Array(64 * KiB));
    const started = Date.now();
    await sleep(1000);
    const seconds = (Date.now() - started) / 1000;
    const total = a.bytes + b.bytes;
    // The bucket lets a quarter second's worth through at once, and one slice may run over.
    assert.ok(total <= RATE * (seconds + 0.25) + 16 * KiB, `${total} bytes in ${seconds} s at ${RATE} bytes/s`);
    assert.ok(total >= RATE * 0.5, `only ${total} bytes in ${seconds} s`);
    const share = a.bytes / total;
    assert.ok(share > 0.35 && share < 0.65, `one connection got ${(share * 100).toFixed(0)} % of the bytes`);
    a.destroy();
    b.destroy();
  } finally {
    group.destroy();
  }
});

test('a closed connection takes no more turns, and destroying the group ends every wait', async () => {
  const group = fairDownloadGroup(256 * KiB);
  const a = flow(group);
  for (let i = 0; i < 16; i++) a.write(new Uint8Array(64 * KiB)); // 4 s at this limit
  await sleep(50);
  a.destroy();
  const b = flow(group);
  b.write(new Uint8Array(16 * KiB));
  // Behind the read the closed one had booked (a quarter second here), not its 4 s left.
  await sleep(700);
  assert.ok(b.firstAt > 0, "the next connection was left behind the closed one's data");
  const c = flow(group);
  for (let i = 0; i < 8; i++) c.write(new Uint8Array(64 * KiB));
  group.destroy(); // nothing left waiting on a timer: the test process can exit
  c.destroy();
  b.destroy();
});

test('a limit of 0 or less is refused', () => {
  assert.throws(() => fairDownloadGroup(0), /positive rate/);
});

test.run();
