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

/**
 * One connection as shared/webtorrent/direct-pipes.ts runs it: reads go to the wire in order, and
 * a read the gate holds stops the connection (its later reads wait in the socket) until released.
 */
function flow(group: ReturnType<typeof fairDownloadGroup>, order?: { log: string[]; name: string }): Flow {
  const queued: Uint8Array[] = [];
  let waiting = false;
  let closed = false;
  const f: Flow = {
    bytes: 0,
    firstAt: 0,
    write: (b) => {
      queued.push(b);
      if (!waiting) pump();
    },
    destroy: () => {
      closed = true;
      queued.length = 0;
    },
  };
  const deliver = (b: Uint8Array): void => {
    if (closed) return;
    f.firstAt ||= Date.now();
    f.bytes += b.length;
    order?.log.push(order.name);
  };
  function pump(): void {
    while (queued.length > 0 && !closed) {
      const b = queued.shift()!;
      const held = group.hold(b.length, () => {
        waiting = false;
        deliver(b);
        pump();
      });
      if (held) return void (waiting = true);
      deliver(b);
    }
  }
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

test('at a rate where reads run ahead, two busy connections still take turns', async () => {
  // 8 MiB/s: a 64 KiB read is 8 ms of the limit, so several fit in READ_AHEAD_MS. A connection
  // released from its wait must not run ahead while the other's read still waits its turn.
  const rate = 8 * 1024 * KiB;
  const group = fairDownloadGroup(rate);
  try {
    const log: string[] = [];
    const a = flow(group, { log, name: 'a' });
    const b = flow(group, { log, name: 'b' });
    for (let i = 0; i < 256; i++) a.write(new Uint8Array(64 * KiB)); // 2 s of the limit each
    for (let i = 0; i < 256; i++) b.write(new Uint8Array(64 * KiB));
    // After the burst the first one took alone: from then on, turns.
    await sleep(400);
    const [a0, b0, from] = [a.bytes, b.bytes, log.length];
    await sleep(500);
    const total = a.bytes - a0 + (b.bytes - b0);
    const share = (a.bytes - a0) / total;
    assert.ok(share > 0.4 && share < 0.6, `one connection got ${(share * 100).toFixed(0)} % of ${total} bytes`);
    // Turns read by read: a connection let go ahead while the other's read waits would take
    // several in a row (5 or 6 at this rate).
    const runs = log.slice(from).join('').match(/a+|b+/g) ?? [];
    const longest = Math.max(...runs.map((r) => r.length));
    assert.ok(longest <= 2, `${longest} reads in a row for one connection: ${log.slice(from).join('')}`);
    assert.ok(total >= rate * 0.3, `only ${total} bytes in 0.5 s`);
    a.destroy();
    b.destroy();
  } finally {
    group.destroy();
  }
});

test('a connection alone reads ahead of the limit, so it waits once per several reads, not each', async () => {
  const rate = 8 * 1024 * KiB;
  const group = fairDownloadGroup(rate);
  let reads = 0;
  let holds = 0;
  const hold = group.hold.bind(group);
  group.hold = (bytes, release) => {
    reads++;
    const held = hold(bytes, release);
    if (held) holds++;
    return held;
  };
  try {
    const a = flow(group);
    for (let i = 0; i < 96; i++) a.write(new Uint8Array(64 * KiB)); // 0.75 s at the limit
    const started = Date.now();
    await sleep(600);
    const seconds = (Date.now() - started) / 1000;
    // Within the limit, and its quarter-second burst, plus one read booked ahead.
    assert.ok(a.bytes <= rate * (seconds + 0.25) + 64 * KiB, `${a.bytes} bytes in ${seconds} s`);
    assert.ok(a.bytes >= rate * 0.4, `only ${a.bytes} bytes in ${seconds} s`);
    assert.ok(holds * 3 < reads, `${holds} waits for ${reads} reads`);
    a.destroy();
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
