import { test } from '../suite.js';
import * as assert from 'uvu/assert';
import { nameOrder } from '../../portal/db/name-order.js';

const sorted = (names: string[]): string[] => [...names].sort((a, b) => (nameOrder(a)! < nameOrder(b)! ? -1 : nameOrder(a)! > nameOrder(b)! ? 1 : 0));

test('host names sort as people read them: numbers by value, letters without case', () => {
  assert.equal(sorted(['pc-10', 'pc-9', 'PC-100', 'pc-1', 'Lab-2', 'lab-10']), ['Lab-2', 'lab-10', 'pc-1', 'pc-9', 'pc-10', 'PC-100']);
  assert.equal(sorted(['r2-pc11', 'r10-pc2', 'r2-pc3']), ['r2-pc3', 'r2-pc11', 'r10-pc2'], 'every run of digits, not only the last');
  assert.is(nameOrder('pc-007'), nameOrder('pc-7'), 'leading zeros do not count');
  assert.is(nameOrder(null), null);
});

test('a run of digits longer than the padding still sorts after shorter ones', () => {
  assert.equal(sorted(['sn-1234567890123', 'sn-99']), ['sn-99', 'sn-1234567890123']);
});

test.run();
