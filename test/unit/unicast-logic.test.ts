import { test } from '../suite.js';
import * as assert from 'uvu/assert';
import { swarmFoundNobody } from '../../client/join/auto-deploy.js';
import { ByteThrottle, READ_AHEAD_MS } from '../../client/deploy/byte-throttle.js';
import { pauseBetweenTries } from '../../client/unicast/unicast-deploy.js';
import { getEventListeners } from 'node:events';

test('auto gives way to unicast only when the swarm reached no peer and its tracker or its pieces show nothing', () => {
  assert.ok(swarmFoundNobody({ peersConnected: 0, trackerAnswers: 0, piecesReceived: 0 }), 'nothing at all');
  assert.ok(swarmFoundNobody({ peersConnected: 0, trackerAnswers: 0, piecesReceived: 5 }), 'web seeds only, tracker down');
  assert.ok(swarmFoundNobody({ peersConnected: 0, trackerAnswers: 2, piecesReceived: 0 }), 'tracker up, nobody reachable, nothing came');
  assert.not.ok(swarmFoundNobody({ peersConnected: 0, trackerAnswers: 2, piecesReceived: 5 }), 'tracker up and web seeds flowing: other PCs may come');
  assert.not.ok(swarmFoundNobody({ peersConnected: 1, trackerAnswers: 0, piecesReceived: 0 }), 'a peer connected: the swarm is there');
});

test('the download limit books every chunk behind the others: a 250 ms burst at once, then the rate; the reader stops only when 50 ms ahead', () => {
  const throttle = new ByteThrottle(2_000_000);
  // Four requests' chunks of 50 kB, booked in turn within one millisecond: 1 MB at 2 MB/s.
  const waits = Array.from({ length: 20 }, () => throttle.reserve(50_000));
  assert.ok(waits[4]! <= 0, `the burst (250 ms, 500 kB) passes at once: ${waits[4]}`);
  assert.ok(waits[19]! >= 245 && waits[19]! <= 255, `the last of 1 MB waits its half second less the burst: ${waits[19]}`);
  assert.ok(
    waits.every((w, k) => k === 0 || w >= waits[k - 1]!),
    'each booked behind the one before',
  );
  // holdAfter: nothing to wait while less than READ_AHEAD_MS ahead, then the whole booking.
  const held = new ByteThrottle(1_000_000);
  assert.is(held.holdAfter(250_000 + 40_000), 0, '40 ms past the burst: read on');
  const ms = held.holdAfter(20_000);
  assert.ok(ms > READ_AHEAD_MS && ms <= READ_AHEAD_MS + 11, `60 ms past the burst: stop for all of it (${ms} ms)`);
  const free = new ByteThrottle(-1);
  assert.ok(
    Array.from({ length: 1000 }, () => free.holdAfter(1_000_000)).every((w) => w === 0),
    'no limit: no wait',
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
