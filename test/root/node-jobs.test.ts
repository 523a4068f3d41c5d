/**
 * Node jobs against real processes: two Shoal sites, each its own portal, tracker and seeder.
 * Site A issues a read key for its image; site B's node pulls the image from A's seeder piece by
 * piece, B's portal registers it (same infohash as A's), and it deploys from B's store file for
 * file. A wrong key, a revoked key and a piece corrupted on A each fail the pull with their reason
 * and publish nothing. An import job runs `shoal import` over a folder under the node's import
 * root: path escapes (`..`, absolute outside, a symbolic link out) are refused, a failing import
 * shows the CLI's error and publishes nothing, and a good one is registered as the job's version.
 * Needs root (loop devices, for the capture and the deploy).
 */
import { suite } from '../suite.js';
import * as assert from 'uvu/assert';
import { cpSync, existsSync, rmSync, mkdirSync, openSync, readSync, readdirSync, symlinkSync, writeSync, closeSync } from 'node:fs';
import { join } from 'node:path';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { assertPartitionsDeployed, blankDisk, makeDisk, MiB, workDir, type FixtureDisk } from './fixtures.js';
import { shoalFails, shoalOk } from './cli.js';
import { endLab, loopbackSeederArgs, startLab, startLabProcesses, startProcess, stopLab, waitFor, type Lab, type ServerProcess } from './processes.js';
import { call, expectError } from './portal-http.js';
import { AuditListSchema, ImageListSchema, ImageSchema } from '../../shared/http/portal-contract.js';
import { NewSiteKeySchema, NodeJobSchema, SiteKeySchema, type NodeJob } from '../../shared/http/node-jobs.js';
import { openImage } from '../../shared/image/store.js';
import { makeFogImage } from './foreign-images.js';
import type { Browser } from 'playwright-core';
import { launchBrowser, loggedIn, seriousA11yViolations } from '../browser.js';
import { pieceFileName, type Manifest } from '../../shared/image/manifest.js';

const PIECE = 256 * 1024;
const PASSWORD = 'correct horse battery';
interface Ctx {
  dir: string;
  disk: FixtureDisk;
  storeA: string;
  storeB: string;
  a: Lab;
  b: Lab;
  manifestA: Manifest;
  seederA: string;
  importRoot: string;
  importNode?: ServerProcess;
  browser?: Browser;
}
const T = suite<Ctx>('node jobs');

T.before(async (ctx) => {
  ctx.dir = workDir();
  ctx.storeA = join(ctx.dir, 'a', 'store');
  ctx.storeB = join(ctx.dir, 'b', 'store');
  mkdirSync(ctx.storeB, { recursive: true });
  ctx.disk = makeDisk(ctx.dir, 'src.img', 48, 'gpt', [{ sizeMiB: 32, fs: 'ext4', name: 'root' }], 4);
  shoalOk('capture', '--disk', ctx.disk.path, '--store', ctx.storeA, '--image', 'lab', '--type', 'multipart', '--piece-length', String(PIECE));
  ctx.manifestA = (await openImage(ctx.storeA, 'lab')).manifest;
  ctx.a = await startLabProcesses(join(ctx.dir, 'a'), [ctx.storeA], [], 1, { adminPassword: PASSWORD });
  ctx.b = await startLabProcesses(join(ctx.dir, 'b'), [ctx.storeB], [], 0, { adminPassword: PASSWORD });
  ctx.seederA = ctx.a.seeders[0]!.url;
  ctx.importRoot = join(ctx.dir, 'imports');
  mkdirSync(ctx.importRoot);
});
T.after(async (ctx) => {
  await ctx.importNode?.kill('SIGTERM');
  await stopLab(ctx.a);
  await endLab(ctx.b, ctx.browser);
});

/** What the job helpers need of a site: its portal and an admin's token (a Lab, or `shoal start`'s server). */
type PortalAt = { portal: { url: string }; token: string };

const jobEnd = (lab: PortalAt, id: number, ms = 60_000): Promise<NodeJob> =>
  waitFor(`node job ${id} to end`, ms, async () => {
    const j = (await call(lab.portal.url, 'GET', `/api/v1/node-jobs/${id}`, { as: lab.token, schema: NodeJobSchema })).body;
    return ['done', 'failed', 'cancelled'].includes(j.state) ? j : undefined;
  });

async function newJob(lab: PortalAt, body: unknown): Promise<NodeJob> {
  const r = await call(lab.portal.url, 'POST', '/api/v1/node-jobs', { as: lab.token, body, schema: NodeJobSchema });
  assert.is(r.status, 201, JSON.stringify(r.body));
  return r.body;
}

async function issueKey(ctx: Ctx, body: unknown) {
  const r = await call(ctx.a.portal.url, 'POST', '/api/v1/images/lab/site-keys', { as: ctx.a.token, body, schema: NewSiteKeySchema });
  assert.is(r.status, 201, JSON.stringify(r.body));
  return r.body;
}

async function auditActions(lab: Lab): Promise<string[]> {
  const r = await call(lab.portal.url, 'GET', '/api/v1/audit?limit=1000', { as: lab.token, schema: AuditListSchema });
  return r.body.entries.map((e) => e.action);
}

/** What B's store (or `store`) and catalog hold of `name`: nothing, after a job that failed. */
async function nothingPublished(ctx: Ctx, name: string, store = ctx.storeB): Promise<void> {
  assert.not.ok(existsSync(join(store, name)), `${name} is not in the node's store`);
  const staging = join(store, '.staging');
  assert.equal(existsSync(staging) ? readdirSync(staging) : [], [], "no staging left in B's store");
  const images = (await call(ctx.b.portal.url, 'GET', '/api/v1/images', { as: ctx.b.token, schema: ImageListSchema })).body.images;
  assert.not.ok(
    images.some((i) => i.name === name),
    `${name} is not in B's catalog`,
  );
}

T('site B pulls an image from site A with the key A issued; it is registered, seeded and deploys from B', async (ctx) => {
  const issued = await issueKey(ctx, { site: 'Campus B' });
  assert.ok(issued.sources.includes(ctx.seederA), `the key names A's seeder as a source: ${issued.sources.join(', ')}`);
  const started = Date.now();
  const job = await newJob(ctx.b, { kind: 'pull', image: 'lab', source: { url: ctx.seederA, key: issued.key, image: 'lab' } });
  assert.is(job.version, 1);
  assert.not.match(JSON.stringify(job), issued.key, "the job's view does not show the key");
  const end = await jobEnd(ctx.b, job.id);
  assert.is(end.state, 'done', end.error ?? '');
  assert.is(end.infoHash, ctx.manifestA.infoHash, "B's version has A's infohash");
  assert.ok(end.totalBytes > 0 && end.doneBytes === end.totalBytes, `progress reached the whole image: ${end.doneBytes}/${end.totalBytes}`);
  console.log(`  pull of ${(end.totalBytes / MiB).toFixed(1)} MiB: ${Date.now() - started} ms`);
  const images = (await call(ctx.b.portal.url, 'GET', '/api/v1/images', { as: ctx.b.token, schema: ImageListSchema })).body.images;
  const lab = images.find((i) => i.name === 'lab');
  assert.ok(lab && lab.nodes.includes('node0'), "B's portal lists the image on B's node");
  const target = blankDisk(join(ctx.dir, 'target.img'), 48 * MiB);
  shoalOk('deploy', '--store', ctx.storeB, '--image', 'lab', '--disk', target);
  assertPartitionsDeployed(ctx.disk, target, ctx.dir);
  assert.ok((await auditActions(ctx.a)).includes('site-key.issue'), "A's audit has the key's issue");
  const b = await auditActions(ctx.b);
  assert.ok(b.includes('node-job.pull') && b.includes('node-job.done'), `B's audit has the pull and its end: ${b.join(', ')}`);
  // The same version once more under another name: B holds it already, as lab v1.
  const again = await jobEnd(ctx.b, (await newJob(ctx.b, { kind: 'pull', image: 'again', source: { url: ctx.seederA, key: issued.key, image: 'lab' } })).id);
  assert.is(again.state, 'failed');
  assert.match(again.error ?? '', /this site holds that version already, as lab v1/);
  await nothingPublished(ctx, 'again');
});

T('a wrong key and a revoked key are refused by the source; nothing is published', async (ctx) => {
  const issued = await issueKey(ctx, { site: 'Campus B', version: 1 });
  const wrong = `${issued.key.slice(0, -4)}AAAA`;
  const bad = await jobEnd(
    ctx.b,
    (await newJob(ctx.b, { kind: 'pull', image: 'wrongkey', source: { url: ctx.seederA, key: wrong, image: 'lab', version: 1 } })).id,
  );
  assert.is(bad.state, 'failed');
  assert.match(bad.error ?? '', /refused the key \(HTTP 401\)/);
  await nothingPublished(ctx, 'wrongkey');

  const revoked = await call(ctx.a.portal.url, 'DELETE', `/api/v1/site-keys/${issued.id}`, { as: ctx.a.token, schema: SiteKeySchema });
  assert.is(revoked.status, 200, JSON.stringify(revoked.body));
  assert.ok(revoked.body.revokedAt);
  // A's seeder hears of it at its next heartbeat (every 5 s).
  await waitFor("A's seeder refusing the revoked key", 20_000, async () =>
    (await fetch(`${ctx.seederA}/k/${issued.key}/images/lab/v1/manifest.json`)).status === 403 ? true : undefined,
  );
  const gone = await jobEnd(ctx.b, (await newJob(ctx.b, { kind: 'pull', image: 'revoked', source: { url: ctx.seederA, key: issued.key, image: 'lab' } })).id);
  assert.is(gone.state, 'failed');
  assert.match(gone.error ?? '', /refused the key \(HTTP 403\).*revoked/);
  await nothingPublished(ctx, 'revoked');
  assert.ok((await auditActions(ctx.a)).includes('site-key.revoke'), "A's audit has the revoke");
  expectError(await call(ctx.a.portal.url, 'DELETE', `/api/v1/site-keys/${issued.id}`, { as: ctx.a.token }), 409, /revoked already/, 'a second revoke');
});

T('a piece corrupted on A fails the pull naming the piece; nothing is published', async (ctx) => {
  const issued = await issueKey(ctx, { site: 'Campus B' });
  // One byte flipped in the middle of the second piece of A's first piece file.
  const area = ctx.manifestA.disks[0]!.areas.find((a) => a.pieces.length >= 2)!;
  const file = join(ctx.storeA, 'lab', 'v1', pieceFileName(area));
  const fd = openSync(file, 'r+');
  const b = Buffer.alloc(1);
  readSync(fd, b, 0, 1, PIECE + 1000);
  b[0] = b[0]! ^ 0xff;
  writeSync(fd, b, 0, 1, PIECE + 1000);
  closeSync(fd);
  try {
    // Into B's lab, as its next version (v2: another number than A's, so another infohash).
    const job = await newJob(ctx.b, { kind: 'pull', image: 'lab', source: { url: ctx.seederA, key: issued.key, image: 'lab' } });
    assert.is(job.version, 2);
    const end = await jobEnd(ctx.b, job.id);
    assert.is(end.state, 'failed');
    assert.match(
      end.error ?? '',
      new RegExp(`\\(${pieceFileName(area).replace('.', '\\.')} #1\\) of lab v1 .* fails its SHA-1 .*\\(3 tries\\)`),
      end.error ?? '',
    );
    assert.not.ok(existsSync(join(ctx.storeB, 'lab', 'v2')), "v2 is not in B's store");
    assert.equal(existsSync(join(ctx.storeB, '.staging')) ? readdirSync(join(ctx.storeB, '.staging')) : [], [], 'no staging left');
    const lab = (await call(ctx.b.portal.url, 'GET', '/api/v1/images/lab', { as: ctx.b.token, schema: ImageSchema })).body;
    assert.equal(
      lab.versions.map((v) => v.version),
      [1],
      "B's catalog has lab v1 only",
    );
  } finally {
    const fd2 = openSync(file, 'r+');
    b[0] = b[0] ^ 0xff;
    writeSync(fd2, b, 0, 1, PIECE + 1000);
    closeSync(fd2);
  }
});

T('in the browser: A issues a key on the image page; B starts a pull with it on the Storage page and sees it done', async (ctx) => {
  ctx.browser = await launchBrowser();
  const a = await loggedIn(ctx.browser, ctx.a.portal.url, 'admin', PASSWORD);
  await a.page.goto('/#/images/lab');
  await a.id('site-key-site').fill('Campus C');
  await a.id('site-key-issue').click();
  const key = (await a.id('site-key-new').locator('.key').textContent())!.trim();
  await a.id('site-key').filter({ hasText: 'Campus C' }).waitFor();
  const b = await loggedIn(ctx.browser, ctx.b.portal.url, 'admin', PASSWORD);
  await b.page.goto('/#/storage');
  await b.id('node-job-kind').selectOption('pull');
  await b.id('node-job-image').fill('lab');
  await b.page.getByLabel('Source seeder URL').fill(ctx.seederA);
  await b.page.getByLabel('Key that site issued').fill(key);
  await b.page.getByLabel('Image there').fill('lab');
  await b.id('node-job-start').click();
  await b
    .id('node-job')
    .filter({ hasText: 'lab v3' })
    .filter({ hasText: 'done' })
    .waitFor({ timeout: 60_000 })
    .catch(async (err: Error) => {
      const jobs = (await call(ctx.b.portal.url, 'GET', '/api/v1/node-jobs', { as: ctx.b.token })).text;
      throw new Error(`${err.message}\npage: ${await b.page.locator('main').innerText()}\njobs: ${jobs}\nerrors: ${b.errors.join('; ')}`);
    });
  // The corrupted pull's failure, as the admin reads it.
  await b.id('node-job-error').filter({ hasText: 'fails its SHA-1' }).first().waitFor();
  assert.equal(await seriousA11yViolations(b.page), [], 'the Storage page with its jobs');
  assert.equal([...a.errors, ...b.errors], [], 'no console errors');
  await a.page.context().close();
  await b.page.context().close();
  // B's v3 is A's v1 under another number: another infohash (the torrent is named v3), the same
  // pieces (the checksum over their SHA-1s), and it deploys (it resumed the corrupted pull's pieces).
  const v3 = (await openImage(ctx.storeB, 'lab', 3)).manifest;
  assert.is.not(v3.infoHash, ctx.manifestA.infoHash);
  assert.is(v3.checksum, ctx.manifestA.checksum);
  const target = blankDisk(join(ctx.dir, 'target-v3.img'), 48 * MiB);
  shoalOk('deploy', '--store', ctx.storeB, '--image', 'lab', '--version', '3', '--disk', target);
  assertPartitionsDeployed(ctx.disk, target, ctx.dir);
  const listed = (await call(ctx.b.portal.url, 'GET', '/api/v1/images/lab', { as: ctx.b.token, schema: ImageSchema })).body.versions;
  assert.equal(listed.find((v) => v.version === 3)?.infoHash, v3.infoHash, "B's portal registered v3");
});

T('a source whose manifest fails its schema, or that goes away mid-way, publishes nothing; the next pull resumes; a running pull is cancelled', async (ctx) => {
  const issued = await issueKey(ctx, { site: 'Campus B' });
  // A's seeder behind a proxy that plays the source going wrong (A's own seeder would never send
  // a manifest it could not read): a test double for a broken source, over the real one.
  let mode: 'pass' | 'bad-manifest' | 'bad-checksum' | 'dies' | 'slow' = 'bad-manifest';
  let pieceReads = 0;
  const proxy = createServer((req, res) => {
    void (async () => {
      if (mode === 'bad-manifest' && req.url!.endsWith('/manifest.json')) {
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ ...ctx.manifestA, pieceLength: 1000 }));
        return;
      }
      if (mode === 'bad-checksum' && req.url!.endsWith('/manifest.json')) {
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ ...ctx.manifestA, checksum: '0'.repeat(64) }));
        return;
      }
      if (req.url!.endsWith('.pieces') && ++pieceReads > 3 && mode === 'dies') return req.socket.destroy();
      // Slow: 5 s a piece, so that a cancel after the first pieces lands long before the last.
      if (req.url!.endsWith('.pieces') && mode === 'slow') await new Promise((r) => setTimeout(r, 5000));
      const r = await fetch(`${ctx.seederA}${req.url}`, { headers: req.headers.range ? { range: req.headers.range } : {} });
      const range = r.headers.get('content-range');
      res.writeHead(r.status, { 'content-type': r.headers.get('content-type') ?? 'application/octet-stream', ...(range && { 'content-range': range }) });
      res.end(Buffer.from(await r.arrayBuffer()));
    })().catch(() => req.socket.destroy());
  });
  await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`;
  const pull = (version?: number) => ({ kind: 'pull', image: 'lab', source: { url, key: issued.key, image: 'lab', ...(version && { version }) } });
  const nothingOf = (version: number): void => {
    assert.not.ok(existsSync(join(ctx.storeB, 'lab', `v${version}`)), `lab v${version} is not in B's store`);
    assert.equal(existsSync(join(ctx.storeB, '.staging')) ? readdirSync(join(ctx.storeB, '.staging')) : [], [], 'no staging left');
  };
  try {
    const bad = await jobEnd(ctx.b, (await newJob(ctx.b, pull(1))).id);
    assert.is(bad.state, 'failed');
    assert.match(bad.error ?? '', /the source's manifest of lab v1 from .* fails its schema at pieceLength/, bad.error ?? '');
    nothingOf(bad.version);

    mode = 'bad-checksum';
    const wrongSum = await jobEnd(ctx.b, (await newJob(ctx.b, pull(1))).id);
    assert.is(wrongSum.state, 'failed');
    assert.match(wrongSum.error ?? '', /manifest and torrent disagree: the manifest's checksum is not that of its pieces/, wrongSum.error ?? '');
    nothingOf(wrongSum.version);

    mode = 'dies';
    const cut = await jobEnd(ctx.b, (await newJob(ctx.b, pull())).id);
    assert.is(cut.state, 'failed');
    assert.match(cut.error ?? '', /piece \d+ \(d0p\d\.pieces #\d+\) of lab v1 from .*: cannot reach the source at .*\(3 tries\)/, cut.error ?? '');
    nothingOf(cut.version);

    mode = 'pass';
    pieceReads = 0;
    const again = await jobEnd(ctx.b, (await newJob(ctx.b, pull())).id);
    assert.is(again.state, 'done', again.error ?? '');
    const pieces = ctx.manifestA.disks.flatMap((d) => d.areas).reduce((n, a) => n + a.pieces.length, 0);
    assert.ok(pieceReads <= pieces - 3, `resumed: ${pieceReads} of ${pieces} pieces read again`);
    assert.is((await openImage(ctx.storeB, 'lab', again.version)).manifest.checksum, ctx.manifestA.checksum);

    // Cancelled while it runs: stopped at its next report, nothing published, nothing kept to resume.
    mode = 'slow';
    const slow = await newJob(ctx.b, pull());
    await waitFor('the slow pull under way', 30_000, async () => {
      const j = (await call(ctx.b.portal.url, 'GET', `/api/v1/node-jobs/${slow.id}`, { as: ctx.b.token, schema: NodeJobSchema })).body;
      return j.state === 'running' && j.doneBytes > 0 ? true : undefined;
    });
    const cancelled = await call(ctx.b.portal.url, 'POST', `/api/v1/node-jobs/${slow.id}/cancel`, { as: ctx.b.token, schema: NodeJobSchema });
    assert.is(cancelled.body.state, 'cancelled');
    const partial = join(ctx.storeB, '.pulls', ctx.manifestA.infoHash);
    await waitFor('the cancelled pull to drop its pieces', 15_000, async () => (existsSync(partial) ? undefined : true));
    nothingOf(slow.version);
    assert.is((await call(ctx.b.portal.url, 'GET', `/api/v1/node-jobs/${slow.id}`, { as: ctx.b.token, schema: NodeJobSchema })).body.state, 'cancelled');
  } finally {
    proxy.closeAllConnections();
    await new Promise((r) => proxy.close(r));
  }
});

/** A storage node of site B that takes imports from `importRoot`, into a store of its own. */
async function importNode(ctx: Ctx): Promise<ServerProcess> {
  if (ctx.importNode) return ctx.importNode;
  const store = join(ctx.dir, 'b', 'import-store');
  mkdirSync(store, { recursive: true });
  ctx.importNode = await startProcess('seeder', [
    '--store',
    store,
    '--secret-file',
    join(ctx.b.data, 'lab-secret'),
    '--portal',
    ctx.b.portal.url,
    '--tracker',
    ctx.b.tracker.url,
    '--name',
    'importer',
    ...(await loopbackSeederArgs()),
    '--import-root',
    ctx.importRoot,
  ]);
  await waitFor('the importing node to report', 20_000, async () =>
    (await call(ctx.b.portal.url, 'GET', '/api/v1/nodes', { as: ctx.b.token })).text.includes('"importer"') ? true : undefined,
  );
  return ctx.importNode;
}
const importStore = (ctx: Ctx): string => join(ctx.dir, 'b', 'import-store');
const importJob = (image: string, dir: string) => ({ kind: 'import', image, node: 'importer', format: 'fog', dir });

T('an import job over a folder on a node publishes the version the portal assigned, with progress', async (ctx) => {
  await importNode(ctx);
  // A FOG image folder as fog.upload writes it (the import tests' own fixture), under the import root.
  makeFogImage(ctx.disk, join(ctx.importRoot, 'fog'), 'lab');
  const job = await newJob(ctx.b, importJob('imported', 'fog/lab'));
  assert.is(job.version, 1);
  const end = await jobEnd(ctx.b, job.id);
  assert.is(end.state, 'done', end.error ?? '');
  const published = await openImage(importStore(ctx), 'imported');
  assert.is(end.infoHash, published.manifest.infoHash);
  assert.ok(end.totalBytes > 0 && end.doneBytes === end.totalBytes, `progress: ${end.doneBytes}/${end.totalBytes}`);
  const images = (await call(ctx.b.portal.url, 'GET', '/api/v1/images', { as: ctx.b.token, schema: ImageListSchema })).body.images;
  assert.ok(images.find((i) => i.name === 'imported')?.nodes.includes('importer'), 'registered, on the importing node');
  const target = blankDisk(join(ctx.dir, 'imported-target.img'), 48 * MiB);
  shoalOk('deploy', '--store', importStore(ctx), '--image', 'imported', '--disk', target);
  assertPartitionsDeployed(ctx.disk, target, ctx.dir);
  // The next one of that name gets the next version.
  assert.is((await newJob(ctx.b, importJob('imported', 'fog/lab'))).version, 2);
});

T('import folders that lead out of the import root are refused; nothing is published', async (ctx) => {
  await importNode(ctx);
  expectError(
    await call(ctx.b.portal.url, 'POST', '/api/v1/node-jobs', { as: ctx.b.token, body: importJob('escape', 'fog/../../a') }),
    400,
    /"\.\." steps/,
    'a ".." step',
  );
  expectError(
    await call(ctx.b.portal.url, 'POST', '/api/v1/node-jobs', { as: ctx.b.token, body: { ...importJob('escape', 'fog/lab'), node: undefined } }),
    400,
    /name the storage node/,
    'no node named with two nodes up',
  );
  // A FOG folder outside the root; a link to it in the root; a folder in the root whose partition
  // table is a link to the one outside.
  const outside = join(ctx.dir, 'outside');
  cpSync(join(ctx.importRoot, 'fog', 'lab'), outside, { recursive: true });
  symlinkSync(outside, join(ctx.importRoot, 'linked'));
  cpSync(outside, join(ctx.importRoot, 'sneaky'), { recursive: true });
  rmSync(join(ctx.importRoot, 'sneaky', 'd1.partitions'));
  symlinkSync(join(outside, 'd1.partitions'), join(ctx.importRoot, 'sneaky', 'd1.partitions'));
  for (const [dir, why] of [
    [outside, /is outside the import root/],
    ['linked', /leads out of the import root .* through a symbolic link/],
    ['sneaky', /sneaky\/d1\.partitions is a symbolic link out of the import root/],
    ['nowhere', /is not there/],
  ] as const) {
    const end = await jobEnd(ctx.b, (await newJob(ctx.b, importJob('escape', dir))).id);
    assert.is(end.state, 'failed', dir);
    assert.match(end.error ?? '', why, `${dir}: ${end.error}`);
  }
  // A link swapped in after the node's check: the CLI the node runs checks every file it opens
  // against --within (the node's root) as well. Run here on the folder the node refused, as if the
  // link had come between the check and the read.
  assert.match(
    shoalFails('import', 'fog', join(ctx.importRoot, 'sneaky'), '--store', importStore(ctx), '--image', 'escape', '--within', ctx.importRoot),
    /sneaky\/d1\.partitions leads out of .* \(to .*outside\/d1\.partitions\): not read/,
  );
  await nothingPublished(ctx, 'escape', importStore(ctx));
});

T("a failing import shows the CLI's error and publishes nothing; a queued job can be cancelled", async (ctx) => {
  await importNode(ctx);
  mkdirSync(join(ctx.importRoot, 'empty'));
  const end = await jobEnd(ctx.b, (await newJob(ctx.b, importJob('broken', 'empty'))).id);
  assert.is(end.state, 'failed');
  assert.match(end.error ?? '', /shoal import failed \(exit code 1\): .*empty\/d1\.partitions is missing/);
  await nothingPublished(ctx, 'broken', importStore(ctx));
  const job = await newJob(ctx.b, importJob('dropped', 'fog/lab'));
  const cancelled = await call(ctx.b.portal.url, 'POST', `/api/v1/node-jobs/${job.id}/cancel`, { as: ctx.b.token, schema: NodeJobSchema });
  assert.is(cancelled.body.state, 'cancelled');
  expectError(await call(ctx.b.portal.url, 'POST', `/api/v1/node-jobs/${job.id}/cancel`, { as: ctx.b.token }), 409, /cancelled already/, 'cancel twice');
  // Two heartbeats later the node has not started it.
  await new Promise((r) => setTimeout(r, 11_000));
  assert.is((await call(ctx.b.portal.url, 'GET', `/api/v1/node-jobs/${job.id}`, { as: ctx.b.token, schema: NodeJobSchema })).body.state, 'cancelled');
  await nothingPublished(ctx, 'dropped', importStore(ctx));
  assert.ok((await auditActions(ctx.b)).includes('node-job.cancel'));
});

T('an import with no storage node up is refused with that reason', async (ctx) => {
  const bare = await startLabProcesses(join(ctx.dir, 'bare'), [], [], 0);
  try {
    expectError(
      await call(bare.portal.url, 'POST', '/api/v1/node-jobs', { as: bare.token, body: { kind: 'import', image: 'none', format: 'fog', dir: 'fog/lab' } }),
      409,
      /no storage node is up to import the folder/,
      'no node at all',
    );
  } finally {
    await stopLab(bare);
  }
});

T('shoal start --import-root: the one-machine server takes import jobs from that folder', async (ctx) => {
  const root = join(ctx.dir, 'start-imports');
  const store = join(ctx.dir, 'start-store');
  mkdirSync(store, { recursive: true });
  makeFogImage(ctx.disk, join(root, 'fog'), 'lab');
  const server = await startLab(join(ctx.dir, 'start-data'), store, { extra: ['--import-root', root] });
  try {
    const lab = { portal: { url: server.portal }, token: server.token };
    await waitFor("the server's storage node to report", 20_000, async () =>
      (await call(server.portal, 'GET', '/api/v1/nodes', { as: server.token })).text.includes('"name"') ? true : undefined,
    );
    // One storage node: the job need not name it.
    const job = await newJob(lab, { kind: 'import', image: 'from-start', format: 'fog', dir: 'fog/lab' });
    const end = await jobEnd(lab, job.id);
    assert.is(end.state, 'done', end.error ?? '');
    const target = blankDisk(join(ctx.dir, 'from-start.img'), 48 * MiB);
    shoalOk('deploy', '--store', store, '--image', 'from-start', '--disk', target);
    assertPartitionsDeployed(ctx.disk, target, ctx.dir);
  } finally {
    await server.stop();
  }
});

T.run();
