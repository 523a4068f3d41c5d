/**
 * uvu's `suite`, except that a `before` hook that throws fails every test of its suite. uvu 0.5.6
 * returns from a `finally` in its runner, which drops the hook's error: the suite runs none of its
 * tests and the run still passes (CI of 2026-12-04: "portal audit and import (0 / 9)", exit 0).
 * Every suite under test/ comes from here; test/unit/suite-hooks.test.ts holds it to that.
 *
 * A suite that takes SLOW_SUITE_MS (5 s; SHOAL_SLOW_SUITE_MS) or more prints its wall time when it ends, so that a CI log
 * shows where its minutes went (CI has 90 and aims for under 45).
 */
import { suite as uvuSuite, type Callback, type Test } from 'uvu';

const SLOW_SUITE_MS = Number(process.env.SHOAL_SLOW_SUITE_MS ?? 5_000);

export function suite<T = Record<string, unknown>>(name?: string, state?: T): Test<T> {
  const t = uvuSuite<T>(name, state);
  const before = t.before;
  // uvu runs a file's suites one after another from a queue: the clock starts at the suite's first
  // hook (registered before any of its own), not at its creation.
  let started = 0;
  before(() => {
    started = Date.now();
  });
  let failure: { err: unknown } | undefined;
  // Registered first, so it runs before the suite's own per-test hooks.
  before.each(() => {
    if (failure) throw failure.err;
  });
  const guarded = (hook: Callback<T>): void =>
    before(async (ctx) => {
      try {
        await hook(ctx);
      } catch (err) {
        failure ??= { err };
      }
    });
  t.before = Object.assign(guarded, { each: before.each.bind(before) });
  const run = t.run.bind(t);
  t.run = () => {
    // Registered at run time, so it comes after the suite's own teardown.
    t.after(() => {
      const ms = Date.now() - started;
      if (ms >= SLOW_SUITE_MS) console.log(`\n  [time] ${name ?? 'tests'}: ${(ms / 1000).toFixed(1)} s`);
    });
    run();
  };
  return t;
}

/** The suite a file without a name of its own uses (uvu's `test`). */
export const test = suite();
