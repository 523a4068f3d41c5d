/**
 * An image's two ends and its page, against the real lab processes: a store node and a replicating
 * node holding two captured images. Retire takes an image out of new work and comes undone;
 * Delete files is refused while a host (named by its name) or a task not over uses the image, and
 * otherwise removes the image's folder from both nodes' stores, and nothing else, within a bounded
 * time, the catalog showing after a reload what the click showed. In Chromium at desktop and phone
 * sizes: the image page edits description and tags (kept after a reload), the delete flow asks
 * first, and the Images list and the image page have no serious axe violations and no horizontal
 * overflow on a phone. Needs root (loop devices, for the captures).
 */
import { suite } from '../suite.js';
import * as assert from 'uvu/assert';
import { cpSync, existsSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser } from 'playwright-core';
import { makeDisk, workDir } from './fixtures.js';
import { shoalOk } from './cli.js';
import { endLab, type Lab, startLabProcesses, waitFor } from './processes.js';
import { call, expectError } from './portal-http.js';
import { DESKTOP, horizontalOverflow, launchBrowser, loggedIn, PHONE, seriousA11yViolations, type Viewport } from '../browser.js';
import { purgeTarget } from '../../seeder/purge.js';
import { ImageListSchema, ImageSchema, ImageVerifySchema, PublishedSchema, ScheduleSchema, TaskSchema } from '../../shared/http/portal-contract.js';

const PASSWORD = 'correct horse battery';
const PC = '52:54:00:0d:00:01';
const T = suite<{ dir: string; store: string; replica: string; lab: Lab; browser: Browser; base: string; admin: string }>('portal images');

T.before(async (ctx) => {
  ctx.dir = workDir();
  ctx.store = join(ctx.dir, 'store');
  ctx.replica = join(ctx.dir, 'replica');
  const disk = makeDisk(ctx.dir, 'src.img', 48, 'gpt', [{ sizeMiB: 32, fs: 'ext4', name: 'root' }], 4);
  for (const name of ['lab', 'old']) shoalOk('capture', '--disk', disk.path, '--store', ctx.store, '--image', name, '--type', 'multipart');
  // What a purge must leave alone: a file and a folder of someone else's beside the images.
  writeFileSync(join(ctx.store, 'keep.txt'), 'not an image\n');
  mkdirSync(join(ctx.store, 'notes'));
  writeFileSync(join(ctx.store, 'notes', 'old'), 'not an image either\n');
  mkdirSync(ctx.replica);
  ctx.lab = await startLabProcesses(ctx.dir, [ctx.store], [ctx.replica], 2, { adminPassword: PASSWORD });
  ctx.base = ctx.lab.portal.url;
  ctx.admin = ctx.lab.token;
  ctx.browser = await launchBrowser();
});
T.after((ctx) => endLab(ctx.lab, ctx.browser));

T('retire takes an image out of new tasks and can be undone; its files stay', async ({ base, admin, store }) => {
  const retired = await call(base, 'PATCH', '/api/v1/images/old', { as: admin, body: { access: 'retired' }, schema: ImageSchema });
  assert.is(retired.status, 200);
  assert.is(retired.body.access, 'retired');
  expectError(
    await call(base, 'POST', '/api/v1/tasks', { as: admin, body: { kind: 'deploy', image: 'old', hosts: [PC] } }),
    409,
    /image old is retired: bring it back/,
    'a new task with a retired image',
  );
  expectError(await call(base, 'POST', '/api/v1/images/old/ticket', { as: admin }), 409, /retired/, 'a ticket for a retired image');
  const capture = await call(base, 'POST', '/api/v1/tasks', { as: admin, body: { kind: 'capture', image: 'old', hosts: [PC] } });
  expectError(capture, 409, /image old is retired: bring it back on its page first/, 'a new version of a retired image');
  assert.is((capture.body as { field?: string }).field, 'image', 'the refusal names the image field');
  const listed = (await call(base, 'GET', '/api/v1/images', { as: admin, schema: ImageListSchema })).body.images.find((i) => i.name === 'old');
  assert.is(listed?.access, 'retired', 'still listed, as retired (a host using it shows its name)');
  assert.ok(existsSync(join(store, 'old', 'v1')), 'its files stay');
  const back = await call(base, 'PATCH', '/api/v1/images/old', { as: admin, body: { access: 'public' }, schema: ImageSchema });
  assert.is(back.body.access, 'public');
  assert.is((await call(base, 'POST', '/api/v1/images/old/ticket', { as: admin })).status, 200, 'brought back, it deploys again');
  expectError(
    await call(base, 'PATCH', '/api/v1/images/old', { as: admin, body: { access: 'deleted' } }),
    400,
    /public, private or retired.*Delete files/,
    'access: deleted is not how files are deleted',
  );
});

T('delete files is refused while a host (by name) or a task uses the image', async ({ base, admin, store }) => {
  assert.is((await call(base, 'POST', '/api/v1/hosts', { as: admin, body: { mac: PC, name: 'pc-7', image: 'lab' } })).status, 201);
  const byHost = await call(base, 'DELETE', '/api/v1/images/lab', { as: admin });
  expectError(
    byHost,
    409,
    /cannot be deleted: host pc-7 is assigned to it\. First give those hosts another image, or retire the image instead/,
    'in use by a host',
  );
  assert.not.match(JSON.stringify(byHost.body), /PATCH|52:54:00/, 'plain words, the host by name');
  assert.is((await call(base, 'PATCH', `/api/v1/hosts/${PC}`, { as: admin, body: { image: null } })).status, 200);

  const at = new Date(Date.now() + 3_600_000).toISOString();
  const task = await call(base, 'POST', '/api/v1/tasks', {
    as: admin,
    body: { kind: 'deploy', image: 'lab', hosts: [PC], scheduledAt: at },
    schema: TaskSchema,
  });
  assert.is(task.status, 201, JSON.stringify(task.body));
  expectError(
    await call(base, 'DELETE', '/api/v1/images/lab', { as: admin }),
    409,
    new RegExp(`task ${task.body.id} \\(deploy, scheduled\\) uses it\\. First wait for the task to finish or cancel it`),
    'in use by a scheduled task',
  );
  assert.is((await call(base, 'POST', `/api/v1/tasks/${task.body.id}/cancel`, { as: admin })).status, 200);
  // A schedule that is on would deploy it at its next run: named, and turned off first.
  const nightly = await call(base, 'POST', '/api/v1/schedules', {
    as: admin,
    body: { name: 'nightly lab', cron: '30 2 * * *', task: { kind: 'deploy', image: 'lab', hosts: [PC] } },
    schema: ScheduleSchema,
  });
  assert.is(nightly.status, 201, JSON.stringify(nightly.body));
  expectError(
    await call(base, 'DELETE', '/api/v1/images/lab', { as: admin }),
    409,
    /schedule nightly lab will deploy it\. First turn the schedule off or delete it/,
    'in use by a schedule',
  );
  assert.is((await call(base, 'DELETE', `/api/v1/schedules/${nightly.body.id}`, { as: admin })).status, 204);
  assert.ok(existsSync(join(store, 'lab', 'v1')), 'a refused delete removes nothing');
});

T('delete files of an unused image removes its folder from every node, nothing else, and a reload shows it gone', async ({ base, admin, store, replica }) => {
  const before = (await call(base, 'GET', '/api/v1/images/old', { as: admin, schema: ImageSchema })).body;
  assert.is(before.versions[0]!.holders?.length, 2, 'both nodes hold it');
  const infoHash = before.versions[0]!.infoHash;
  assert.is((await call(base, 'DELETE', '/api/v1/images/old', { as: admin })).status, 204);

  const list = (await call(base, 'GET', '/api/v1/images', { as: admin, schema: ImageListSchema })).body.images;
  assert.equal(
    list.map((i) => i.name),
    ['lab'],
    'gone from the list',
  );
  const tombstones = (await call(base, 'GET', '/api/v1/images?deleted=true', { as: admin, schema: ImageListSchema })).body.images;
  assert.is(tombstones.find((i) => i.name === 'old')?.access, 'deleted', 'a tombstone when asked for');
  assert.not.ok(
    (await call(base, 'GET', '/api/v1/swarm/published', { schema: PublishedSchema })).body.infoHashes.includes(infoHash),
    'trackers stop admitting it',
  );

  // The nodes hear of it at their next report (every 5 s).
  await waitFor('the deleted image gone from both stores', 30_000, async () =>
    !existsSync(join(store, 'old')) && !existsSync(join(replica, 'old')) ? true : undefined,
  );
  for (const dir of [store, replica]) assert.ok(existsSync(join(dir, 'lab', 'v1', 'manifest.json')), `${dir}: the other image stays`);
  assert.ok(existsSync(join(store, 'keep.txt')) && existsSync(join(store, 'notes', 'old')), 'nothing outside the image folder is touched');
  const after = await waitFor('both nodes reported it gone', 20_000, async () => {
    const i = (await call(base, 'GET', '/api/v1/images/old', { as: admin, schema: ImageSchema })).body;
    return i.versions.every((v) => !v.holders?.length) ? i : undefined;
  });
  assert.is(after.access, 'deleted', 'a reload shows what the click showed');
  expectError(await call(base, 'DELETE', '/api/v1/images/old', { as: admin }), 409, /already deleted/, 'deleted twice');
  const lab = (await call(base, 'GET', '/api/v1/images/lab', { as: admin, schema: ImageSchema })).body;
  assert.is(lab.versions[0]!.nodes.length, 2, 'the other image is still held by both nodes');
});

T('verify checks every piece of a version on each node holding it', async ({ base, admin }) => {
  const started = await call(base, 'POST', '/api/v1/images/lab/versions/1/verify', { as: admin, schema: ImageVerifySchema });
  assert.is(started.status, 200);
  const done = await waitFor('the check done', 60_000, async () => {
    const c = (await call(base, 'GET', '/api/v1/images/lab/versions/1/verify', { as: admin, schema: ImageVerifySchema })).body;
    return c.state === 'done' ? c : undefined;
  });
  assert.is(done.nodes.length, 2);
  for (const n of done.nodes) {
    assert.ok(n.total > 0 && n.good === n.total && n.bad === 0, `${n.node}: ${JSON.stringify(n)}`);
  }
});

T('a node removes only the folder the portal named, as it names it', async ({ dir, store, base, admin }) => {
  const lab = (await call(base, 'GET', '/api/v1/images/lab', { as: admin, schema: ImageSchema })).body.versions[0]!;
  const ref = { name: 'lab', version: 1, infoHash: lab.infoHash };
  assert.ok('dir' in (await purgeTarget(store, ref)), 'the image folder itself');
  // A copy elsewhere, a link into the store, and names that climb out: each refused.
  const other = join(dir, 'other');
  mkdirSync(other);
  cpSync(join(store, 'lab'), join(other, 'lab'), { recursive: true });
  symlinkSync(join(other, 'lab'), join(other, 'linked'));
  for (const [what, s, r] of [
    ['a name with ..', store, { ...ref, name: '../other/lab' }],
    ['a name with /', store, { ...ref, name: 'lab/v1' }],
    ['a version that is not one', store, { ...ref, version: 0 }],
    ['another infohash', store, { ...ref, infoHash: '0'.repeat(40) }],
    ['a folder that is a link', other, { ...ref, name: 'linked' }],
    ['a version not there', store, { ...ref, version: 9 }],
  ] as const) {
    assert.ok('refused' in (await purgeTarget(s, r)), what);
  }
});

async function imagePage(ctx: { browser: Browser; base: string; admin: string }, viewport: Viewport, tag: string): Promise<void> {
  const { page, errors, id } = await loggedIn(ctx.browser, ctx.base, 'admin', PASSWORD, viewport);
  await page.goto('/#/images');
  await id('image-link').filter({ hasText: 'lab' }).waitFor();
  assert.equal(await seriousA11yViolations(page), [], `Images list at ${viewport.width}px`);
  if (viewport === PHONE) assert.is(await horizontalOverflow(page), 0, 'the Images list fits a phone');

  await id('image-link').filter({ hasText: 'lab' }).click();
  await page.waitForURL(/#\/images\/lab$/);
  await id('image-version').first().waitFor();
  await id('image-description').fill(`Lab PCs, ${tag}`);
  await id('image-tags').fill(`lab, ${tag}`);
  await id('image-save').click();
  await page.getByText('Saved description, tags of lab').waitFor();
  await page.reload();
  await id('image-version').first().waitFor();
  assert.is(await id('image-description').inputValue(), `Lab PCs, ${tag}`, 'the description kept after a reload');
  assert.is(await id('image-tags').inputValue(), `lab, ${tag}`, 'the tags kept after a reload');
  if (viewport === DESKTOP) {
    await id('image-retire').click();
    await id('image-retired').waitFor();
    assert.is((await call(ctx.base, 'GET', '/api/v1/images/lab', { as: ctx.admin, schema: ImageSchema })).body.access, 'retired');
    await id('image-restore').click();
    await id('image-retired').waitFor({ state: 'detached' });
    assert.is((await call(ctx.base, 'GET', '/api/v1/images/lab', { as: ctx.admin, schema: ImageSchema })).body.access, 'public', 'brought back as it was');
    await id('image-verify-start').first().click();
    await id('image-verify-result')
      .first()
      .filter({ hasText: /node1:\s+\d+ good, 0 bad/ })
      .waitFor({ timeout: 60_000 });
  }
  assert.equal(await seriousA11yViolations(page), [], `the image page at ${viewport.width}px`);
  if (viewport === PHONE) assert.is(await horizontalOverflow(page), 0, 'the image page fits a phone');

  // Delete, asked first: an image of its own, nobody using it.
  const name = `scratch-${tag}`;
  assert.is((await call(ctx.base, 'POST', '/api/v1/images', { as: ctx.admin, body: { name, imageType: 'raw' } })).status, 201);
  await page.goto(`/#/images/${name}`);
  await id('image-delete').click();
  await id('image-delete-confirm').waitFor();
  assert.equal(await seriousA11yViolations(page), [], `the delete question at ${viewport.width}px`);
  await id('image-delete-no').click();
  assert.is((await call(ctx.base, 'GET', `/api/v1/images/${name}`, { as: ctx.admin, schema: ImageSchema })).body.access, 'public', 'Cancel deletes nothing');
  await id('image-delete').click();
  await id('image-delete-yes').click();
  await id('image-deleted').waitFor();
  await page.reload();
  await id('image-deleted').waitFor({ timeout: 10_000 });
  await page.goto('/#/images');
  await id('image-link').filter({ hasText: 'lab' }).waitFor();
  assert.is(await id('image-link').filter({ hasText: name }).count(), 0, 'gone from the list after a reload');
  assert.equal(errors, []);
  await page.context().close();
}

T('image page: edits kept after a reload, delete asks first, accessible, fits a phone (desktop)', async (ctx) => imagePage(ctx, DESKTOP, 'desktop'));
T('image page: the same on a phone', async (ctx) => imagePage(ctx, PHONE, 'phone'));

T.run();
