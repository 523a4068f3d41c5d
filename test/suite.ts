/**
 * uvu's `suite`, except that a `before` hook that throws fails every test of its suite. uvu 0.5.6
 * returns from a `finally` in its runner, which drops the hook's error: the suite runs none of its
 * tests and the run still passes (CI of 2026-12-04: "portal audit and import (0 / 9)", exit 0).
 * Every suite under test/ comes from here; test/unit/suite-hooks.test.ts holds it to that.
 *
 * A suite that takes SLOW_SUITE_MS (5 s; SHOAL_SLOW_SUITE_MS) or more prints its wall time when it
 * ends, and a test that takes four times that prints its own, so that a CI log shows where its
 * minutes went (CI has 90 and aims for under 45).
 */
import { suite as uvuSuite, type Callback, type Test } from 'uvu';

const SLOW_SUITE_MS = Number(process.env.SHOAL_SLOW_SUITE_MS ?? 5_000);
/** A test of a suite prints its own time from four times that: which test of a slow suite it was. */
const SLOW_TEST_MS = 4 * SLOW_SUITE_MS;

export function suite<T = Record<string, unknown>>(name?: string, state?: T): Test<T> {
  const t = uvuSuite<T>(name, state);
  const before = t.before;
  // uvu's `run` queues the tests and hooks given so far and starts the suite afresh, so that the
  // shared `test` below serves file after file; the queue runs once every file is loaded. So each
  // batch (what one `run` takes) gets its own hooks and state, armed again after every run.
  type Batch = { started: number; testStarted: number; testName?: string; failure?: { err: unknown } };
  let batch: Batch;
  const arm = (): void => {
    const b: Batch = (batch = { started: 0, testStarted: 0 });
    // Registered before any of the batch's own hooks: the clock starts at the first of them.
    before(() => {
      b.started = Date.now();
    });
    before.each((ctx) => {
      if (b.failure) throw b.failure.err;
      b.testStarted = Date.now();
      b.testName = (ctx as { __test__?: string }).__test__;
    });
    t.after.each(() => {
      const ms = Date.now() - b.testStarted;
      if (ms >= SLOW_TEST_MS) console.log(`\n  [time]   ${(ms / 1000).toFixed(1)} s: ${b.testName ?? '?'}`);
    });
  };
  arm();
  const guarded = (hook: Callback<T>): void => {
    const b = batch;
    before(async (ctx) => {
      try {
        await hook(ctx);
      } catch (err) {
        b.failure ??= { err };
      }
    });
  };
  t.before = Object.assign(guarded, { each: before.each.bind(before) });
  const run = t.run.bind(t);
  t.run = () => {
    const b = batch;
    // Registered last, so it comes after the batch's own teardown.
    t.after(() => {
      const ms = Date.now() - b.started;
      if (ms >= SLOW_SUITE_MS) console.log(`\n  [time] ${name ?? 'tests'}: ${(ms / 1000).toFixed(1)} s`);
    });
    run();
    arm();
  };
  return t;
}

/** The suite a file without a name of its own uses (uvu's `test`). */
export const test = suite();
