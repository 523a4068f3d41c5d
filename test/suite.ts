/**
 * uvu's `suite`, except that a `before` hook that throws fails every test of its suite. uvu 0.5.6
 * returns from a `finally` in its runner, which drops the hook's error: the suite runs none of its
 * tests and the run still passes (CI of 2026-12-04: "portal audit and import (0 / 9)", exit 0).
 * Every suite under test/ comes from here; test/unit/suite-hooks.test.ts holds it to that.
 */
import { suite as uvuSuite, type Callback, type Test } from 'uvu';

export function suite<T = Record<string, unknown>>(name?: string, state?: T): Test<T> {
  const t = uvuSuite<T>(name, state);
  const before = t.before;
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
  return t;
}

/** The suite a file without a name of its own uses (uvu's `test`). */
export const test = suite();
