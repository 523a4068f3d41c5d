import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import { rotatedOrder, rotatedRanges } from '../../client/piece-order.js';

test('rotated ranges cover exactly the missing pieces, starting at the start', () => {
  assert.equal(rotatedRanges([false, false, false, false], 2), [[2, 3], [0, 1]]);
  assert.equal(rotatedRanges([false, true, false, false], 3), [[3, 3], [0, 0], [2, 2]]);
  assert.equal(rotatedRanges([true, true], 1), []);
  fc.assert(
    fc.property(fc.array(fc.boolean(), { maxLength: 60 }), fc.nat(200), (held, start) => {
      const got = rotatedRanges(held, start).flatMap(([a, b]) => Array.from({ length: b - a + 1 }, (_, i) => a + i));
      const want = held.flatMap((h, i) => (h ? [] : [i]));
      assert.equal([...got].sort((x, y) => x - y), want);
      assert.is(new Set(got).size, got.length);
      if (got.length) assert.ok(got[0]! >= start % held.length || got.every((i) => i < start % held.length));
    }),
  );
});

test('rotated order: every piece once, from the start round to just before it', () => {
  assert.equal(rotatedOrder(5, 3), [3, 4, 0, 1, 2]);
  assert.equal(rotatedOrder(3, 7), [1, 2, 0]);
  assert.equal(rotatedOrder(0, 2), []);
});

test.run();
