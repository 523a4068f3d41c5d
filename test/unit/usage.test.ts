import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { pathToFileURL } from 'node:url';
import { spawnSync } from 'node:child_process';
import { headerUsage } from '../../scripts/usage.js';

test('a script\'s usage is its header comment without the comment\'s margins', () => {
  const dir = mkdtempSync(join(tmpdir(), 'shoal-usage-'));
  try {
    const file = join(dir, 'tool.js');
    writeFileSync(file, '#!/usr/bin/env node\n/**\n * npm run tool -- does a thing.\n *   --n N (4)\n *\n * More.\n */\nconst x = 1; /** not this */\n');
    assert.is(headerUsage(pathToFileURL(file).href), 'npm run tool -- does a thing.\n  --n N (4)\n\nMore.');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('--help on a bench prints its usage and exits 0 before its options are parsed (a strict parse would refuse --help) or anything runs', () => {
  const script = new URL('../../scripts/bench-lab.js', import.meta.url);
  const r = spawnSync(process.execPath, [script.pathname, '--help'], { encoding: 'utf8', timeout: 20_000 });
  assert.is(r.status, 0, r.stderr);
  assert.match(r.stdout, /^npm run bench:lab \(root\)/);
  assert.match(r.stdout, /--tcp-cc NAME/);
  assert.is(r.stderr, '');
});

test.run();
