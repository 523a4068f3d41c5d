import { test } from '../suite.js';
import * as assert from 'uvu/assert';
import { existsSync, mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PULL_KEEP_MS, sweepStalePulls } from '../../seeder/pull-image.js';

const DAY = 86_400_000;

/** A failed pull's folder under STORE/.pulls/, its files and itself last written `ageMs` ago, one file written `freshFileAgeMs` ago if given. */
function pullDir(store: string, name: string, ageMs: number, freshFileAgeMs?: number): string {
  const dir = join(store, '.pulls', name);
  mkdirSync(join(dir, 'sub'), { recursive: true });
  const at = (ms: number) => new Date(Date.now() - ms);
  for (const f of ['d0p1.pieces', 'sub/d0p2.pieces']) {
    writeFileSync(join(dir, f), 'x');
    utimesSync(join(dir, f), at(ageMs), at(ageMs));
  }
  if (freshFileAgeMs !== undefined) utimesSync(join(dir, 'sub/d0p2.pieces'), at(freshFileAgeMs), at(freshFileAgeMs));
  utimesSync(join(dir, 'sub'), at(ageMs), at(ageMs));
  utimesSync(dir, at(ageMs), at(ageMs));
  return dir;
}

test('old pulls are dropped, recent ones and one written to lately are kept', async () => {
  const store = mkdtempSync(join(tmpdir(), 'shoal-pulls-'));
  try {
    assert.equal(await sweepStalePulls(store), [], 'no .pulls folder: nothing to do');
    const old = pullDir(store, 'a'.repeat(40), PULL_KEEP_MS + DAY);
    const recent = pullDir(store, 'b'.repeat(40), PULL_KEEP_MS - DAY);
    const touched = pullDir(store, 'c'.repeat(40), PULL_KEEP_MS + DAY, DAY);
    assert.equal(await sweepStalePulls(store), ['a'.repeat(40)]);
    assert.not.ok(existsSync(old));
    assert.ok(existsSync(recent));
    assert.ok(existsSync(touched), 'a piece written a day ago keeps its pull');
  } finally {
    rmSync(store, { recursive: true, force: true });
  }
});

test.run();
