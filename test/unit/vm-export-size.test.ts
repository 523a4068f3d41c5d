/** `shoal export --size`: sizes as qemu-img takes them, whole 512-byte sectors, anything else refused by name. */
import { suite } from '../suite.js';
import * as assert from 'uvu/assert';
import { diskSize } from '../../client/cli/vm-commands.js';

const T = suite('export --size');

T('bytes, and K, M, G, T as powers of 1024 (with or without iB)', () => {
  assert.is(diskSize('1048576'), 1024 * 1024);
  assert.is(diskSize('512K'), 512 * 1024);
  assert.is(diskSize('400M'), 400 * 1024 ** 2);
  assert.is(diskSize('40G'), 40 * 1024 ** 3);
  assert.is(diskSize('1.5GiB'), 1.5 * 1024 ** 3);
  assert.is(diskSize('2t'), 2 * 1024 ** 4);
});

T('zero, negative, a part of a sector, junk and units qemu-img does not take are refused', () => {
  for (const bad of ['0', '-1G', '1000', '1.0001K', 'ten', '40X', '', 'G'])
    assert.throws(() => diskSize(bad), /must be a size in bytes \(or with K, M, G, T\), a multiple of 512/, bad);
});

T.run();
