/**
 * The PC client's Node flags (scripts/pc-node-flags.ts): the boot image's init starts the client
 * with exactly them, and Node takes them. Their effect on CPU is bench:swarm's to measure.
 */
import { test } from '../suite.js';
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { PC_NODE_FLAGS } from '../../scripts/pc-node-flags.js';

const INIT = fileURLToPath(new URL('../../../scripts/boot/init.sh', import.meta.url));

test("the boot image's init runs the client with the same flags", () => {
  const line = readFileSync(INIT, 'utf8')
    .split('\n')
    .find((l) => /^node .*\/opt\/shoal\/cli\.js join/.test(l));
  assert.ok(line, 'init.sh starts the client with node');
  const flags = line.slice('node '.length, line.indexOf('/opt/shoal/cli.js')).trim().split(/\s+/).filter(Boolean);
  assert.equal(flags, [...PC_NODE_FLAGS]);
});

test('Node accepts them (a misspelt flag stops Node before it runs anything)', () => {
  assert.is(
    execFileSync(process.execPath, [...PC_NODE_FLAGS, '-e', 'console.log("ran")'])
      .toString()
      .trim(),
    'ran',
  );
  assert.throws(() => execFileSync(process.execPath, ['--initial-old-space-sise=128', '-e', '0'], { stdio: 'ignore' }), 'a misspelt one fails');
});

test.run();
