import { test } from '../suite.js';
import * as assert from 'uvu/assert';
import { swarmFoundNobody } from '../../client/join/auto-deploy.js';
import { ByteThrottle } from '../../client/deploy/byte-throttle.js';
import { pauseBetweenTries } from '../../client/unicast/unicast-deploy.js';
import { getEventListeners } from 'node:events';

test('auto gives way to unicast only when the swarm reached no peer and its tracker or its pieces show nothing', () => {
  assert.ok(swarmFoundNobody({ peersConnected: 0, trackerAnswers: 0, piecesReceived: 0 }), 'nothing at all');
  assert.ok(swarmFoundNobody({ peersConnected: 0, trackerAnswers: 0, piecesReceived: 5 }), 'web seeds only, tracker down');
  assert.ok(swarmFoundNobody({ peersConnected: 0, trackerAnswers: 2, piecesReceived: 0 }), 'tracker up, nobody reachable, nothing came');
  assert.not.ok(swarmFoundNobody({ peersConnected: 0, trackerAnswers: 2, piecesReceived: 5 }), 'tracker up and web seeds flowing: other PCs may come');
  assert.not.ok(swarmFoundNobody({ peersConnected: 1, trackerAnswers: 0, piecesReceived: 0 }), 'a peer connected: the swarm is there');
});

test('the download limit holds across requests: 1 MB at 2 MB/s passes a 250 ms burst at once, the rest at the limit', async () => {
  const throttle = new ByteThrottle(2_000_000);
  const started = Date.now();
  await Promise.all(
    Array.from({ length: 4 }, async () => {
      for (let i = 0; i < 5; i++) await throttle.take(50_000);
    }),
  );
  const ms = Date.now() - started;
  // The first BURST_MS (250 ms) worth passes at once.
  assert.ok(ms >= 200 && ms < 900, `${ms} ms`);
  const free = new ByteThrottle(-1);
  const t0 = Date.now();
  for (let i = 0; i < 1000; i++) await free.take(1_000_000);
  assert.ok(Date.now() - t0 < 100, 'no limit: no wait');
});

test("a wait leaves nothing on the deploy's abort signal, and an abort ends a wait at once", async () => {
  const throttle = new ByteThrottle(10_000_000);
  const abort = new AbortController();
  for (let i = 0; i < 200; i++) await throttle.take(100_000, abort.signal); // 2 s at the limit, 1.75 s of waits
  assert.is(getEventListeners(abort.signal, 'abort').length, 0, 'one listener left per wait');
  const waiting = throttle.take(5_000_000, abort.signal);
  const t0 = Date.now();
  abort.abort(new Error('stopped'));
  assert.match(
    await waiting.then(
      () => 'resolved',
      (err: Error) => err.message,
    ),
    /stopped/,
  );
  assert.ok(Date.now() - t0 < 100);
  assert.match(
    await throttle.take(1, abort.signal).then(
      () => 'resolved',
      (err: Error) => err.message,
    ),
    /stopped/,
  );
});

test("the pause between a piece's tries leaves nothing on the deploy's signal, and an abort ends it with the deploy's reason", async () => {
  const abort = new AbortController();
  for (let i = 0; i < 12; i++) await pauseBetweenTries(1, abort.signal);
  assert.is(getEventListeners(abort.signal, 'abort').length, 0, 'one listener left per pause');
  const pausing = pauseBetweenTries(60_000, abort.signal);
  abort.abort(new Error('unicast deploy stopped'));
  assert.is(
    await pausing.then(
      () => 'resolved',
      (err: Error) => err.message,
    ),
    'unicast deploy stopped',
  );
});

test.run();
