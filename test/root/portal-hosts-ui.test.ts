/**
 * The hosts side of the web UI as a lab team uses it all day, in Debian's Chromium against real
 * lab processes holding 2,000 hosts: the table sorted and paged by the server with its view in
 * the address (a reload keeps it), hosts ticked across filters and changed in one call (moved,
 * then put back by Undo), every host matching a filter approved or deleted, a host's own page
 * (rename, the taken name refused beside the field, its tasks and log), an image that is retired
 * or deleted shown by name, at a desktop's and a phone's size with no serious axe-core violation
 * and no sideways scrolling. And the bulk route's refusals through the API. Needs root (the lab
 * image's loop devices).
 */
import { suite } from '../suite.js';
import * as assert from 'uvu/assert';
import type { Browser, Page } from 'playwright-core';
import { workDir } from './fixtures.js';
import { endLab, type Lab, startPortalLab } from './processes.js';
import { call, expectError } from './portal-http.js';
import { DESKTOP, horizontalOverflow, launchBrowser, loggedIn, PHONE, seriousA11yViolations, type Viewport } from '../browser.js';
import {
  AuditListSchema,
  GroupSchema,
  HostBulkResultSchema,
  HostImportSchema,
  HostListSchema,
  HostSchema,
  ImageSchema,
  TaskSchema,
  type Host,
} from '../../shared/http/portal-contract.js';

const PASSWORD = 'correct horse battery';
const T = suite<{ dir: string; lab: Lab; browser: Browser }>('portal hosts ui');

const hex = (n: number): string => n.toString(16).padStart(2, '0');
/** A made-up MAC: a family byte per use, then an index. */
const mac = (family: number, i: number): string => `52:54:00:${hex(family)}:${hex(i >> 8)}:${hex(i & 255)}`;
const LAB_HOSTS = 2000;
/** The first 250 hosts are the lab room that pages; the rest fill the portal to 2,000. */
const labName = (i: number): string => (i < 250 ? `lab-${String(i + 1).padStart(3, '0')}` : `fill-${i}`);

T.before(async (ctx) => {
  ctx.dir = workDir();
  ({ lab: ctx.lab } = await startPortalLab(ctx.dir, PASSWORD));
  const c = ctx.lab.client;
  for (const name of ['Lab 250', 'Big', 'desktop A', 'desktop B', 'phone A', 'phone B']) await c.post(GroupSchema, '/api/v1/groups', { name });
  // 2,000 hosts through the API's import, as an admin moving from FOG would bring them.
  const csv = ['mac,name,group', ...Array.from({ length: LAB_HOSTS }, (_, i) => `${mac(0x10, i)},${labName(i)},${i < 250 ? 'Lab 250' : 'Big'}`)].join('\n');
  assert.equal(await c.call(HostImportSchema, 'POST', '/api/v1/hosts/import', { text: { type: 'text/csv', data: csv } }), { created: LAB_HOSTS, updated: 0 });
  ctx.browser = await launchBrowser();
});
T.after((ctx) => endLab(ctx.lab, ctx.browser));

const hostsOf = async (lab: Lab, q: string): Promise<Host[]> => (await lab.client.get(HostListSchema, `/api/v1/hosts?${q}`)).hosts;

/** The names in the table's rows, top to bottom. */
const rowNames = (page: Page): Promise<string[]> => page.getByTestId('host-link').allTextContents();

/** Waits (bounded) until `check` holds, polling the API. */
async function until(what: string, check: () => Promise<boolean>, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) assert.unreachable(`not within ${ms} ms: ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function checkScreen(page: Page, what: string): Promise<void> {
  assert.equal(await seriousA11yViolations(page), [], `${what}: axe-core's serious violations`);
  assert.is(await horizontalOverflow(page), 0, `${what}: the page is wider than the screen`);
}

// How fast (first rows within 1 s, a search within 300 ms) is bench:portal's to measure: a timed
// assert here failed one CI run on a loaded 2-core machine at 343 ms, 200 of them the search's pause.
T('the hosts page of 2,000 hosts shows a page of 100 rows and the total, and a search finds the one host', async (ctx) => {
  const { page, errors } = await loggedIn(ctx.browser, ctx.lab.portal.url, 'admin', PASSWORD, DESKTOP);
  // Once to warm the browser's cache of the app, then measured.
  await page.goto('/#/hosts');
  await page
    .getByTestId('hosts-row')
    .first()
    .waitFor({ timeout: 30_000 })
    .catch(async (err: Error) => assert.unreachable(`no row: ${err.message}; the page says ${await page.locator('main').textContent()}; ${errors.join(' ')}`));
  const tab = await page.context().newPage();
  let t0 = Date.now();
  await tab.goto('/#/hosts');
  await tab.getByTestId('hosts-row').first().waitFor({ timeout: 30_000 });
  const firstRows = Date.now() - t0;
  assert.is(await tab.getByTestId('hosts-row').count(), 100, 'a page of 100 rows');
  assert.is(await tab.getByTestId('hosts-total').textContent(), '2000 hosts');
  const wanted = 'fill-1993';
  t0 = Date.now();
  await tab.getByRole('searchbox').fill(wanted);
  await tab.waitForFunction(
    (name) => {
      const rows = [...document.querySelectorAll('[data-testid="hosts-row"]')];
      return rows.length === 1 && (rows[0]!.textContent ?? '').includes(name);
    },
    wanted,
    { timeout: 10_000, polling: 'raf' },
  );
  const searched = Date.now() - t0;
  console.log(`  hosts page: first rows after ${firstRows} ms, a search answered after ${searched} ms (bench:portal measures both)`);
  assert.equal(errors, []);
  await page.context().close();
});

for (const [screen, viewport] of [
  ['desktop', DESKTOP],
  ['phone', PHONE],
] as [string, Viewport][]) {
  const family = screen === 'desktop' ? 0x20 : 0x30;

  T(`${screen}: sorted by name descending and on page 2, the view is in the address and survives a reload; page 3 of the 250-host room`, async (ctx) => {
    const { page, errors } = await loggedIn(ctx.browser, ctx.lab.portal.url, 'admin', PASSWORD, viewport);
    await page.goto('/#/hosts?group=Lab%20250');
    await page.getByTestId('hosts-row').first().waitFor();
    const nameHeader = page.getByRole('columnheader', { name: /^Name/ });
    assert.is(await nameHeader.getAttribute('aria-sort'), 'ascending');
    await nameHeader.getByRole('button').click();
    await page.waitForFunction(() => location.hash.includes('order=desc'), undefined, { timeout: 5000 });
    await until('lab-250 first', async () => (await rowNames(page))[0] === 'lab-250', 5000);
    await page.getByTestId('pager-next').first().click();
    await page.waitForFunction(() => location.hash.includes('page=2'), undefined, { timeout: 5000 });
    await until('lab-150 first on page 2', async () => (await rowNames(page))[0] === 'lab-150', 5000);
    assert.match(page.url(), /#\/hosts\?group=Lab(\+|%20)250&sort=name&order=desc&page=2$/);
    await page.reload();
    await page.getByTestId('hosts-row').first().waitFor();
    await until('the same rows after a reload', async () => (await rowNames(page))[0] === 'lab-150', 5000);
    assert.is(await page.getByRole('columnheader', { name: /^Name/ }).getAttribute('aria-sort'), 'descending');
    assert.is(await page.getByTestId('pager-range').first().textContent(), '101–200 of 250');
    assert.is(await page.locator('.toolbar select').first().inputValue(), 'Lab 250');
    // Ascending again, page 3: the last 50.
    await page.getByRole('columnheader', { name: /^Name/ }).getByRole('button').click();
    await page.getByTestId('pager-next').first().click();
    await page.getByTestId('pager-next').first().click();
    await until('page 3 from lab-201', async () => (await rowNames(page))[0] === 'lab-201', 5000);
    assert.is(await page.getByTestId('hosts-row').count(), 50);
    await checkScreen(page, `hosts page on a ${screen}`);
    assert.equal(errors, []);
    await page.context().close();
  });

  T(`${screen}: two of three hosts ticked across a filter change are moved to a group in one call; Undo puts them back`, async (ctx) => {
    const c = ctx.lab.client;
    const macs = [1, 2, 3].map((i) => mac(family, i));
    for (const [i, m] of macs.entries()) await c.post(HostSchema, '/api/v1/hosts', { mac: m, name: `${screen}-move-${i + 1}`, group: `${screen} A` });
    const { page, errors } = await loggedIn(ctx.browser, ctx.lab.portal.url, 'admin', PASSWORD, viewport);
    const auditBefore = (await c.get(AuditListSchema, '/api/v1/audit')).total;
    await page.goto(`/#/hosts?group=${encodeURIComponent(`${screen} A`)}`);
    await page.getByRole('checkbox', { name: `Select ${screen}-move-1` }).check();
    await page.getByRole('searchbox').fill(`${screen}-move-3`);
    await until('only move-3 shown', async () => (await rowNames(page)).join() === `${screen}-move-3`, 5000);
    await page.getByRole('checkbox', { name: `Select ${screen}-move-3` }).check();
    assert.is(await page.getByTestId('bulk-count').textContent(), '2 selected');
    await page.getByLabel('Group to move the selected hosts to').selectOption(`${screen} B`);
    await page.getByTestId('bulk-move').click();
    await page
      .getByTestId('toast')
      .filter({ hasText: `Moved 2 hosts to ${screen} B` })
      .waitFor();
    const groups = async () => (await hostsOf(ctx.lab, `search=${screen}-move`)).map((h) => `${h.name}:${h.group}`);
    assert.equal(await groups(), [`${screen}-move-1:${screen} B`, `${screen}-move-2:${screen} A`, `${screen}-move-3:${screen} B`]);
    const audit = await c.get(AuditListSchema, '/api/v1/audit');
    assert.is(audit.total, auditBefore + 1, 'one audit entry for the move');
    assert.ok(audit.entries.some((e) => e.action === 'host.bulk-move'));
    await checkScreen(page, `hosts page with a selection on a ${screen}`);
    await page.getByTestId('toast').filter({ hasText: 'Moved 2 hosts' }).getByTestId('toast-undo').click();
    await until('both back in A', async () => (await groups()).every((g) => g.endsWith(`:${screen} A`)));
    // The same two, still selected, deployed: a task for them, and its page.
    await page.getByLabel('Image to deploy to the selected hosts').selectOption('lab');
    await page.getByTestId('bulk-deploy').click();
    await page.waitForURL(/#\/tasks\/\d+$/, { timeout: 10_000 });
    const taskId = Number(/#\/tasks\/(\d+)$/.exec(page.url())![1]);
    const task = await c.get(TaskSchema, `/api/v1/tasks/${taskId}`);
    assert.equal(task.hosts.map((h) => h.mac).sort(), [macs[0], macs[2]]);
    assert.is(task.kind, 'deploy');
    await c.post(TaskSchema, `/api/v1/tasks/${taskId}/cancel`);
    assert.equal(errors, []);
    await page.context().close();
  });

  T(`${screen}: every host matching a filter approved, then 105 deleted after a confirmation`, async (ctx) => {
    const c = ctx.lab.client;
    for (const i of [7, 8, 9]) {
      const r = await call(ctx.lab.portal.url, 'POST', '/api/v1/hosts/register', { body: { mac: mac(family, i), name: `${screen}-new-${i}` } });
      assert.is(r.status, 200, JSON.stringify(r.body));
    }
    const csv = ['mac,name', ...Array.from({ length: 105 }, (_, i) => `${mac(family, 16 + i)},${screen}-bulk-${String(i).padStart(3, '0')}`)].join('\n');
    await c.call(HostImportSchema, 'POST', '/api/v1/hosts/import', { text: { type: 'text/csv', data: csv } });
    const { page, errors } = await loggedIn(ctx.browser, ctx.lab.portal.url, 'admin', PASSWORD, viewport);
    // Those waiting for approval, from the address: the 105 imported ones are not among them.
    await page.goto(`/#/hosts?search=${screen}-&pending=true`);
    await until('3 rows', async () => (await page.getByTestId('hosts-row').count()) === 3, 5000);
    await page.getByRole('checkbox', { name: 'Select all on this page' }).check();
    await page.getByTestId('bulk-approve').click();
    await page.getByTestId('toast').filter({ hasText: 'Approved 3 hosts' }).waitFor();
    assert.equal(
      (await hostsOf(ctx.lab, `search=${screen}-new`)).map((h) => h.pending),
      [false, false, false],
    );

    await page.getByTestId('hosts-table').getByText('No hosts.').waitFor();
    await page.getByRole('combobox', { name: /^Approval/ }).selectOption('');
    await page.getByRole('searchbox').fill(`${screen}-bulk`);
    await until('a page of 100', async () => (await page.getByTestId('hosts-row').count()) === 100 && (await rowNames(page))[0] === `${screen}-bulk-000`, 5000);
    await page.getByRole('checkbox', { name: 'Select all on this page' }).check();
    await page.getByTestId('select-all-matching').filter({ hasText: 'Select all 105 matching the filter' }).click();
    assert.is(await page.getByTestId('bulk-count').textContent(), '105 selected');
    const del = page.getByRole('button', { name: 'Delete 105 hosts' });
    await del.click();
    assert.is((await hostsOf(ctx.lab, `search=${screen}-bulk`)).length, 105, 'nothing deleted before the confirmation');
    await page.getByRole('button', { name: 'Delete 105 hosts: sure?' }).click();
    await page.getByTestId('toast').filter({ hasText: 'Deleted 105 hosts' }).waitFor();
    assert.is((await hostsOf(ctx.lab, `search=${screen}-bulk`)).length, 0);
    assert.equal(errors, []);
    await page.context().close();
  });

  T(
    `${screen}: a host's page renames it, refuses a taken name beside the field, lays out its hardware, tasks and log; a retired or deleted image is shown by name`,
    async (ctx) => {
      const c = ctx.lab.client;
      const me = mac(family, 4);
      const inventory = {
        firmware: 'uefi',
        cpu: 'Test CPU 3000',
        cores: 8,
        memoryBytes: 16 * 1024 ** 3,
        disks: [{ name: 'nvme0n1', sizeBytes: 512 * 1024 ** 3, model: 'Fast Disk' }],
        nics: [{ name: 'eth0', mac: me, cidr: '10.9.0.7/24' }],
      };
      const reg = await call(ctx.lab.portal.url, 'POST', '/api/v1/hosts/register', { body: { mac: me, name: `${screen}-ren`, inventory } });
      assert.is(reg.status, 200, JSON.stringify(reg.body));
      await c.post(HostSchema, '/api/v1/hosts', { mac: mac(family, 5), name: `${screen}-taken`, group: `${screen} A` });
      // Its image goes out of use: retired (a portal from before retiring knew only "deleted").
      const old = `old-${screen}`;
      await c.post(ImageSchema, '/api/v1/images', { name: old, imageType: 'resizable' });
      await c.patch(HostSchema, `/api/v1/hosts/${me}`, { image: old });
      const retired = await call(ctx.lab.portal.url, 'PATCH', `/api/v1/images/${old}`, { as: ctx.lab.token, body: { access: 'retired' } });
      if (retired.status !== 200)
        assert.is((await call(ctx.lab.portal.url, 'PATCH', `/api/v1/images/${old}`, { as: ctx.lab.token, body: { access: 'deleted' } })).status, 200);
      expectError(
        await call(ctx.lab.portal.url, 'PATCH', `/api/v1/hosts/${mac(family, 5)}`, { as: ctx.lab.token, body: { image: old } }),
        409,
        new RegExp(`image ${old} is (retired|deleted)`),
        'a retired image given to another host',
      );
      const task = await c.post(TaskSchema, '/api/v1/tasks', { kind: 'deploy', image: 'lab', hosts: [me] });

      const { page, errors } = await loggedIn(ctx.browser, ctx.lab.portal.url, 'admin', PASSWORD, viewport);
      // In the table: the image by name, marked.
      await page.goto(`/#/hosts?search=${screen}-ren`);
      const imageSelect = page.getByRole('combobox', { name: `Image of ${me}` });
      await imageSelect.waitFor();
      assert.is(await imageSelect.inputValue(), old);
      assert.match((await imageSelect.locator('option:checked').textContent()) ?? '', new RegExp(`^${old} \\((retired|deleted)\\)$`));

      await page.getByRole('link', { name: `${screen}-ren`, exact: true }).click();
      await page.waitForURL(new RegExp(`#/hosts/${encodeURIComponent(me)}$`));
      await page.getByTestId('host-page-mac').waitFor();
      assert.match((await page.getByTestId('host-page-image').locator('option:checked').textContent()) ?? '', new RegExp(`^${old} \\((retired|deleted)\\)$`));
      const hw = (await page.getByTestId('host-inventory').textContent()) ?? '';
      assert.match(hw, /UEFI/);
      assert.match(hw, /Test CPU 3000 \(8 cores\)/);
      assert.match(hw, /16\.0 GiB/);
      assert.match((await page.locator('main').textContent()) ?? '', /nvme0n1 512 GiB · Fast Disk/);
      const history = page.getByTestId('host-history');
      await history.getByRole('link', { name: `deploy ${task.id}` }).waitFor();
      assert.is(await history.getByRole('link', { name: `deploy ${task.id}` }).getAttribute('href'), `#/tasks/${task.id}`);
      await page.getByRole('heading', { name: `Log in task ${task.id}` }).waitFor();
      await checkScreen(page, `host page on a ${screen}`);

      // A name another host has: refused, the words beside the field, the field focused.
      const name = page.getByTestId('host-page-name');
      await name.fill(`${screen}-taken`);
      await page.getByTestId('host-page-save').click();
      const err = page.getByTestId('field-error');
      await err.waitFor();
      assert.match((await err.textContent()) ?? '', new RegExp(`taken by ${mac(family, 5)} \\(host ${screen}-taken in ${screen} A\\)`));
      assert.is(await name.getAttribute('aria-invalid'), 'true');
      assert.ok(await name.evaluate((el) => el === document.activeElement), 'the name field has the focus');
      await name.fill(`${screen}-renamed`);
      await page.getByTestId('host-page-save').click();
      await page
        .getByTestId('toast')
        .filter({ hasText: `Saved ${screen}-renamed: name` })
        .waitFor();
      assert.is((await c.get(HostSchema, `/api/v1/hosts/${me}`)).name, `${screen}-renamed`);
      assert.is(await page.getByTestId('field-error').count(), 0);
      await c.post(TaskSchema, `/api/v1/tasks/${task.id}/cancel`);
      // Deploy from its page: a task for it alone, and that task's page.
      await page.getByLabel(`Image to deploy to ${screen}-renamed`).selectOption('lab');
      await page.getByTestId('host-page-deploy').click();
      await page.waitForURL(/#\/tasks\/\d+$/, { timeout: 10_000 });
      const again = await c.get(TaskSchema, `/api/v1/tasks/${/#\/tasks\/(\d+)$/.exec(page.url())![1]}`);
      assert.equal(
        again.hosts.map((h) => h.mac),
        [me],
      );
      await c.post(TaskSchema, `/api/v1/tasks/${again.id}/cancel`);
      // A PC that registered itself, approved and then deleted from its page (a second click confirms).
      const waiting = mac(family, 6);
      assert.is((await call(ctx.lab.portal.url, 'POST', '/api/v1/hosts/register', { body: { mac: waiting, name: `${screen}-wait` } })).status, 200);
      await page.goto(`/#/hosts/${waiting}`);
      await page.getByTestId('host-page-approve').click();
      await page
        .getByTestId('toast')
        .filter({ hasText: `Approved ${screen}-wait` })
        .waitFor();
      assert.is((await c.get(HostSchema, `/api/v1/hosts/${waiting}`)).pending, false);
      await page.getByRole('button', { name: `Delete ${screen}-wait` }).click();
      await page.getByRole('button', { name: `Delete ${screen}-wait: sure?` }).click();
      await page.waitForURL(/#\/hosts$/, { timeout: 10_000 });
      assert.is((await call(ctx.lab.portal.url, 'GET', `/api/v1/hosts/${waiting}`, { as: ctx.lab.token })).status, 404);
      assert.equal(errors, []);
      await page.context().close();
    },
  );
}

T('an inline change in the table says what it did, with Undo', async (ctx) => {
  const c = ctx.lab.client;
  const m = mac(0x50, 1);
  await c.post(HostSchema, '/api/v1/hosts', { mac: m, name: 'inline-1', group: 'desktop A' });
  const { page, errors } = await loggedIn(ctx.browser, ctx.lab.portal.url, 'admin', PASSWORD, DESKTOP);
  await page.goto('/#/hosts?search=inline-1');
  await page.getByRole('combobox', { name: `Group of ${m}` }).selectOption('desktop B');
  await page.getByRole('button', { name: `Save Group of ${m}` }).click();
  const t = page.getByTestId('toast').filter({ hasText: 'inline-1: group desktop A → desktop B' });
  await t.waitFor();
  assert.is((await c.get(HostSchema, `/api/v1/hosts/${m}`)).group, 'desktop B');
  await t.getByTestId('toast-undo').click();
  await until('back in desktop A', async () => (await c.get(HostSchema, `/api/v1/hosts/${m}`)).group === 'desktop A');
  await until('the select shows it', async () => (await page.getByRole('combobox', { name: `Group of ${m}` }).inputValue()) === 'desktop A', 5000);
  assert.equal(errors, []);
  await page.context().close();
});

T('POST /hosts/bulk refuses an unknown group, an over-long list and a delete of hosts in an active task (named), changing nothing', async (ctx) => {
  const base = ctx.lab.portal.url;
  const as = ctx.lab.token;
  const c = ctx.lab.client;
  const busy1 = mac(0x40, 1);
  const busy2 = mac(0x40, 2);
  const free = mac(0x40, 3);
  for (const [m, name] of [
    [busy1, 'busy-1'],
    [busy2, 'busy-2'],
    [free, 'free-1'],
  ] as const)
    await c.post(HostSchema, '/api/v1/hosts', { mac: m, name, group: 'desktop A' });
  const task = await c.post(TaskSchema, '/api/v1/tasks', { kind: 'deploy', image: 'lab', hosts: [busy1, busy2] });
  const auditBefore = (await c.get(AuditListSchema, '/api/v1/audit')).total;

  const unknownGroup = await call(base, 'POST', '/api/v1/hosts/bulk', { as, body: { action: 'move', hosts: [free], group: 'Room 404' } });
  expectError(unknownGroup, 400, /unknown group Room 404/, 'unknown group');
  assert.is((unknownGroup.body as { field?: string }).field, 'group');
  const tooMany = Array.from({ length: 5001 }, (_, i) => mac(0x41, i));
  const long = await call(base, 'POST', '/api/v1/hosts/bulk', { as, body: { action: 'approve', hosts: tooMany } });
  expectError(long, 400, /at most 5000 hosts/, 'over-long list');
  assert.is((long.body as { field?: string }).field, 'hosts');
  expectError(
    await call(base, 'POST', '/api/v1/hosts/bulk', { as, body: { action: 'delete', hosts: [free, mac(0x41, 9)] } }),
    404,
    /unknown host 52:54:00:41:00:09/,
    'unknown host',
  );
  const busy = await call(base, 'POST', '/api/v1/hosts/bulk', { as, body: { action: 'delete', hosts: [free, busy1, busy2] } });
  expectError(busy, 409, new RegExp(`busy-1 and busy-2 are in task ${task.id}`), 'hosts in an active task');
  expectError(
    await call(base, 'POST', '/api/v1/hosts/bulk', { as, body: { action: 'delete', filter: { search: 'busy-' }, expect: 2 } }),
    409,
    new RegExp(`busy-1 and busy-2 are in task ${task.id}`),
    'by filter too',
  );
  // A filter is run again when the change is made: if it matches more than the admin saw, nothing happens.
  const grown = await call(base, 'POST', '/api/v1/hosts/bulk', { as, body: { action: 'move', filter: { search: 'busy-' }, expect: 1, group: 'desktop B' } });
  expectError(grown, 409, /the filter now matches 2 hosts, not the 1 shown: nothing changed/, 'a filter matching more than was shown');
  expectError(
    await call(base, 'POST', '/api/v1/hosts/bulk', { as, body: { action: 'delete', filter: {} } }),
    400,
    /says how many hosts it expects/,
    'a filter without the count seen',
  );
  expectError(await call(base, 'POST', '/api/v1/hosts/bulk', { as, body: { action: 'move', group: 'desktop B' } }), 400, /give hosts/, 'no hosts nor filter');
  // This lab runs with --no-wake: a bulk wake says so rather than sending nothing in silence.
  expectError(await call(base, 'POST', '/api/v1/hosts/bulk', { as, body: { action: 'wake', hosts: [free] } }), 409, /--no-wake/, 'wake off');
  assert.is((await hostsOf(ctx.lab, 'search=busy-')).length, 2, 'nothing deleted');
  assert.is((await hostsOf(ctx.lab, 'search=free-1'))[0]?.group, 'desktop A', 'nothing moved');
  assert.is((await c.get(AuditListSchema, '/api/v1/audit')).total, auditBefore, 'refusals are not audited');

  // By filter: every host matching, one call, one entry.
  const moved = await c.post(HostBulkResultSchema, '/api/v1/hosts/bulk', { action: 'move', filter: { search: 'busy-' }, expect: 2, group: 'desktop B' });
  assert.equal(moved.hosts.sort(), [busy1, busy2]);
  assert.equal(
    moved.before.map((b) => b.group),
    ['desktop A', 'desktop A'],
  );
  const { entries, total } = await c.get(AuditListSchema, '/api/v1/audit');
  assert.is(total, auditBefore + 1, 'one entry for the move');
  // Who moved which host out of which group: each host's old group is in it.
  const entry = entries.find((e) => e.action === 'host.bulk-move' && JSON.stringify(e.detail).includes(busy1));
  assert.ok(entry, 'the move is audited');
  assert.equal((entry?.detail as { from: Record<string, string> }).from, { [busy1]: 'desktop A', [busy2]: 'desktop A' });
  // Paging: the total beside a page; without paging parameters every host, as before.
  const paged = await c.get(HostListSchema, '/api/v1/hosts?group=Lab%20250&sort=name&order=desc&limit=10&offset=20');
  assert.is(paged.total, 250);
  assert.equal(
    paged.hosts.map((h) => h.name),
    Array.from({ length: 10 }, (_, i) => `lab-${230 - i}`),
  );
  assert.is((await c.get(HostListSchema, '/api/v1/hosts?group=Lab%20250')).hosts.length, 250);
  const byTask = await c.get(HostListSchema, '/api/v1/hosts?search=busy-&sort=task&order=desc&limit=1');
  assert.is(byTask.hosts[0]?.task?.id, task.id);
  await c.post(TaskSchema, `/api/v1/tasks/${task.id}/cancel`);
});

T.run();
