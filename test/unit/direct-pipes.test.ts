import { test } from '../suite.js';
import * as assert from 'uvu/assert';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Socket } from 'node:net';
import { createServer, type Server } from 'node:http';
import { readFileSync } from 'node:fs';
import WebTorrent from 'webtorrent';
import type { Torrent } from 'webtorrent';
import { useDirectPipes } from '../../shared/webtorrent/direct-pipes.js';
import { useFairDownloadLimit } from '../../client/swarm/download-limit.js';

const opts = { dht: false, lsd: false, utp: false, natUpnp: false, natPmp: false, tracker: false, webSeeds: false, torrentPort: 0 } as const;
type Groups = { down: { throttle?(): unknown }; up: { throttle?(): unknown } };

/** A web seed for one file: what webtorrent's WebConn asks, ranges of it. */
async function serveFile(path: string): Promise<{ url: string; server: Server }> {
  const server = createServer((req, res) => {
    const data = readFileSync(path);
    const [, from, to] = /bytes=(\d+)-(\d+)/.exec(req.headers.range ?? '') ?? [];
    if (from === undefined) return void res.end(data);
    res.writeHead(206, { 'content-range': `bytes ${from}-${to}/${data.length}` });
    res.end(data.subarray(Number(from), Number(to) + 1));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server.address() as { port: number }).port}/x`, server };
}

/**
 * Real webtorrent clients on loopback: `a` seeds 1 MiB, `b` fetches it from `a` or, with `webSeed`,
 * from an HTTP server holding a's file; `limit` puts Shoal's download limit on `b`.
 */
async function transfer(
  bOpts: object,
  o: { webSeed?: boolean; limit?: number } = {},
): Promise<{ seeded: Torrent; fetched: Torrent; throttles: { down: number; up: number }; ms: number }> {
  useDirectPipes();
  const a = new WebTorrent(opts);
  const b = new WebTorrent({ ...opts, ...bOpts });
  if (o.limit) useFairDownloadLimit(b, o.limit);
  const throttles = { down: 0, up: 0 };
  const groups = (b as unknown as { throttleGroups: Groups }).throttleGroups;
  for (const way of ['down', 'up'] as const) {
    if (typeof groups[way].throttle !== 'function') continue; // Shoal's limit: a gate, no stage to make
    const make = groups[way].throttle.bind(groups[way]);
    groups[way].throttle = () => (throttles[way]++, make());
  }
  const dir = mkdtempSync(join(tmpdir(), 'shoal-direct-pipes-'));
  let web: Server | undefined;
  try {
    const port = await new Promise<number>((r) => a.once('listening', () => r(a.torrentPort)));
    const seed = (a as unknown as { seed(data: Buffer, o: object, cb: (t: Torrent) => void): void }).seed.bind(a);
    const seeded = await new Promise<Torrent>((r) => seed(randomBytes(1024 * 1024), { name: 'x', announce: [], path: join(dir, 'a') }, r));
    const fetched = b.add((seeded as unknown as { torrentFile: Buffer }).torrentFile, { announce: [], path: join(dir, 'b') });
    await new Promise((r) => fetched.once('infoHash', r));
    const started = Date.now();
    if (o.webSeed) {
      const seed = await serveFile(join(dir, 'a', 'x'));
      web = seed.server;
      fetched.addWebSeed(seed.url);
    } else fetched.addPeer(`127.0.0.1:${port}`);
    // Bounded: the test runner's timeout is far off, so give up here after 20 s.
    await Promise.race([
      new Promise((r) => fetched.once('done', r)),
      new Promise((_, reject) => setTimeout(() => reject(new Error('1 MiB over loopback took over 20 s')), 20_000).unref()),
    ]);
    return { seeded, fetched, throttles, ms: Date.now() - started };
  } finally {
    web?.close();
    await Promise.all([a, b].map((c) => new Promise((r) => c.destroy(r))));
    rmSync(dir, { recursive: true, force: true });
  }
}

test('with no limit a connection goes straight to its wire, and its bytes are still counted both ways', async () => {
  const { seeded, fetched, throttles } = await transfer({});
  assert.equal(throttles, { down: 0, up: 0 }, 'no throttle stage');
  assert.is(fetched.downloaded, 1024 * 1024);
  // Raw bytes on the socket: the pieces plus the protocol's messages.
  const received = (fetched as unknown as { received: number }).received;
  assert.ok(received > 1024 * 1024 && received < 1.1 * 1024 * 1024, `received ${received}`);
  assert.ok(seeded.uploaded > 1024 * 1024 && seeded.uploaded < 1.1 * 1024 * 1024, `uploaded ${seeded.uploaded}`);
  assert.ok(fetched.uploaded > 0, 'the fetching side counts its requests as sent');
});

test('what a wire writes in one tick leaves its socket in one write', async () => {
  // Counted on every socket of this process: the messages the wires hand their sockets, and the
  // writes the sockets make of them (one _write, or one _writev for all a cork held back).
  const proto = Socket.prototype as unknown as Record<'write' | '_write' | '_writev', (...a: unknown[]) => unknown>;
  const originals = { write: proto.write, _write: proto._write, _writev: proto._writev };
  let chunks = 0;
  let writes = 0;
  proto.write = function (this: Socket, ...a: unknown[]) {
    chunks++;
    return originals.write.apply(this, a);
  };
  proto._write = function (this: Socket, ...a: unknown[]) {
    writes++;
    return originals._write.apply(this, a);
  };
  proto._writev = function (this: Socket, ...a: unknown[]) {
    writes++;
    return originals._writev.apply(this, a);
  };
  try {
    await transfer({});
  } finally {
    Object.assign(proto, originals);
  }
  // 64 requests one way, 64 blocks (a header and the bytes, two messages each) the other: one
  // send per message would be over 190.
  assert.ok(chunks > 190, `messages ${chunks}`);
  assert.ok(writes * 2 < chunks, `${writes} socket writes for ${chunks} messages`);
});

test("a download limit keeps its throttle in the pipe (and webtorrent's upload limit its own)", async () => {
  const { fetched, throttles } = await transfer({ downloadLimit: 4 * 1024 * 1024, uploadLimit: 4 * 1024 * 1024 });
  assert.equal(throttles, { down: 1, up: 1 });
  assert.is(fetched.downloaded, 1024 * 1024);
});

test("with Shoal's download limit a connection still has no throttle stage, and the limit holds", async () => {
  // 1 MiB at 2 MiB/s: ByteThrottle lets a quarter second through at once, the rest waits.
  const { fetched, throttles, ms } = await transfer({}, { limit: 2 * 1024 * 1024 });
  assert.equal(throttles, { down: 0, up: 0 });
  assert.is(fetched.downloaded, 1024 * 1024);
  assert.ok(ms >= 200, `1 MiB at 2 MiB/s took ${ms} ms`);
});

test('a web seed (a connection that is a stream, not a socket) feeds its wire, with and without a limit', async () => {
  for (const limit of [undefined, 2 * 1024 * 1024]) {
    const { fetched, ms } = await transfer({ webSeeds: true }, { webSeed: true, limit });
    assert.is(fetched.downloaded, 1024 * 1024, `limit ${limit}`);
    assert.ok(fetched.progress === 1, `limit ${limit}`);
    if (limit) assert.ok(ms >= 200, `1 MiB at 2 MiB/s from the web seed took ${ms} ms`);
  }
});

test.run();
