import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from '../suite.js';

const here = dirname(fileURLToPath(import.meta.url));

test('a suite whose before hook throws fails its tests, and the run exits non-zero', () => {
  const dir = mkdtempSync(join(tmpdir(), 'shoal-suite-'));
  try {
    const file = join(dir, 'broken.test.mjs');
    writeFileSync(
      file,
      `import { suite } from ${JSON.stringify(join(here, '..', 'suite.js'))};
const T = suite('broken');
T.before(() => { throw new Error('the fixture would not start'); });
T('one', () => {});
T('two', () => {});
T.run();
`,
    );
    const r = spawnSync(process.execPath, [file], { encoding: 'utf8', timeout: 20_000 });
    assert.is(r.status, 1, `exit code ${r.status}: ${r.stdout}`);
    assert.match(r.stdout, /\(0 \/ 2\)/);
    assert.match(r.stdout, /the fixture would not start/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a suite prints its wall time when it takes SHOAL_SLOW_SUITE_MS or more, after its teardown', () => {
  const dir = mkdtempSync(join(tmpdir(), 'shoal-suite-'));
  try {
    const file = join(dir, 'slow.test.mjs');
    writeFileSync(
      file,
      `import { suite } from ${JSON.stringify(join(here, '..', 'suite.js'))};
const T = suite('slowish');
T.after(async () => { await new Promise((r) => setTimeout(r, 300)); });
T('one', async () => { await new Promise((r) => setTimeout(r, 100)); });
T.run();
`,
    );
    const env = { ...process.env, SHOAL_SLOW_SUITE_MS: '350' };
    const r = spawnSync(process.execPath, [file], { encoding: 'utf8', timeout: 20_000, env });
    assert.is(r.status, 0, r.stdout);
    const m = /\[time\] slowish: ([\d.]+) s/.exec(r.stdout);
    // The test alone (0.1 s) is under four times 350 ms: no line of its own.
    assert.not.match(r.stdout, /\[time\] {3}[\d.]+ s: one/);
    const perTest = spawnSync(process.execPath, [file], { encoding: 'utf8', timeout: 20_000, env: { ...env, SHOAL_SLOW_SUITE_MS: '20' } });
    assert.match(perTest.stdout, /\[time\] {3}0\.\d s: one/);
    assert.ok(m, r.stdout);
    assert.ok(Number(m[1]) >= 0.4, m[1]);
    const quick = spawnSync(process.execPath, [file], { encoding: 'utf8', timeout: 20_000, env: { ...env, SHOAL_SLOW_SUITE_MS: '60000' } });
    assert.not.match(quick.stdout, /\[time\]/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the shared test of several files: each file gets its own hooks, a broken one fails only its own tests', () => {
  const dir = mkdtempSync(join(tmpdir(), 'shoal-suite-'));
  try {
    const suiteJs = JSON.stringify(join(here, '..', 'suite.js'));
    // Three files on the shared `test`, run by uvu's own runner: the middle one broken.
    writeFileSync(join(dir, 'a.test.mjs'), `import { test } from ${suiteJs};\ntest('a fine', () => {});\ntest.run();\n`);
    writeFileSync(
      join(dir, 'b.test.mjs'),
      `import { test } from ${suiteJs};\ntest.before(() => { throw new Error('b will not start'); });\ntest('b one', () => {});\ntest.run();\n`,
    );
    writeFileSync(join(dir, 'c.test.mjs'), `import { test } from ${suiteJs};\ntest('c fine', () => {});\ntest.run();\n`);
    const uvu = join(here, '..', '..', '..', 'node_modules', 'uvu', 'bin.js');
    const r = spawnSync(process.execPath, [uvu, dir, '.test.mjs$'], { encoding: 'utf8', timeout: 20_000 });
    assert.is(r.status, 1, r.stdout);
    assert.match(r.stdout, /b will not start/);
    assert.match(r.stdout, /Total:\s+3/);
    assert.match(r.stdout, /Passed:\s+2/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("every test file takes its suites from test/suite.ts, not uvu's own", () => {
  const sources = join(here, '..', '..', '..', 'test');
  const offenders = ['unit', 'root'].flatMap((d) =>
    readdirSync(join(sources, d))
      .filter((f) => f.endsWith('.ts'))
      .filter((f) => /import \{[^}]*\b(suite|test)\b[^}]*\} from 'uvu'/.test(readFileSync(join(sources, d, f), 'utf8')))
      .map((f) => `${d}/${f}`),
  );
  assert.equal(offenders, []);
});

test.run();
