import { test } from '../suite.js';
import * as assert from 'uvu/assert';
import { feedMeter, samplerLateness } from '../../client/swarm/feed-meter.js';

/** A meter on a clock and byte count the test moves, sampled every 500 ms as piece-order does. */
function driven() {
  let clock = 0;
  let bytes = 0;
  let late = 0;
  const m = feedMeter(
    () => bytes,
    () => clock,
    () => late,
  );
  const run = (bytesPerSec: number, ms: number, lateMs = 0) => {
    for (let t = 0; t < ms; t += 500) {
      clock += 500;
      bytes += bytesPerSec / 2;
      late = lateMs;
      m.sample();
    }
  };
  return { m, run };
}

test('underfed: under 80 % of the best 1 s window, and never before a full window', () => {
  const { m, run } = driven();
  m.sample();
  run(0, 1_500);
  assert.is(m.underfed(), false, 'nothing known yet');
  run(2_000_000, 4_000);
  assert.is(m.underfed(), false, 'at its best rate');
  assert.is(m.best(), 2_000_000);
  assert.is(m.current(), 2_000_000);
  run(1_700_000, 2_000);
  assert.is(m.current(), 1_700_000, 'the last full window');
  assert.is(m.underfed(1_500_000), true, 'another rate (what the PCs alone send) against the best');
  assert.is(m.underfed(1_700_000), false);
  assert.is(m.underfed(), false, '85 % of the best');
  run(1_000_000, 2_000);
  assert.is(m.underfed(), true, 'half the best');
  run(2_000_000, 2_000);
  assert.is(m.underfed(), false, 'back at its best');
});

test('the window is the last second: a fall shows in full one second on', () => {
  const { m, run } = driven();
  m.sample();
  run(2_000_000, 4_000);
  run(1_000_000, 500);
  assert.is(m.current(), 1_500_000, 'half a second in, half the window is the old rate');
  run(1_000_000, 500);
  assert.is(m.current(), 1_000_000, 'a second in, all of it is the new rate');
  assert.is(m.underfed(), true);
});

test('lagging: any of the last four samples late by more than 15 ms', () => {
  const { m, run } = driven();
  run(1_000_000, 2_000, 5);
  assert.is(m.lagging(), false, 'on time');
  run(1_000_000, 500, 300);
  assert.is(m.lagging(), true, 'one stall');
  run(1_000_000, 1_500, 2);
  assert.is(m.lagging(), true, 'the stall is still within the last four samples');
  run(1_000_000, 500, 2);
  assert.is(m.lagging(), false, 'four calm samples');
});

test('samplerLateness: a sampling timer on time is not late, one held behind a blocked loop is', async () => {
  // Sampled from a real 50 ms interval timer, as piece-order samples from its nudge.
  const m = feedMeter(() => 0, Date.now, samplerLateness(50));
  const late: number[] = [];
  let laggingWhenIdle: boolean | undefined;
  // Bounded: five runs of the timer. Asserted after it, not in its callback, where a failure
  // would be an uncaught exception rather than this test's.
  await new Promise<void>((done) => {
    const timer = setInterval(() => {
      m.sample();
      late.push(Math.round(m.lateMs()));
      if (late.length === 4) {
        laggingWhenIdle = m.lagging();
        // Holds the loop for 300 ms, as a CPU-starved PC's is held, between two samples.
        setTimeout(() => busy(300), 10);
      }
      if (late.length === 5) {
        clearInterval(timer);
        done();
      }
    }, 50);
  });
  assert.is(laggingWhenIdle, false, `idle loop, samples late by ${late.slice(0, 4).join(', ')} ms`);
  assert.ok(late[4]! >= 200, `the sample after the block came ${late[4]} ms late`);
  assert.is(m.lagging(), true);
});

function busy(ms: number): void {
  const until = Date.now() + ms;
  while (Date.now() < until);
}

test.run();
