/**
 * The audit log and the host import as a lab team uses them all day, against a real portal: logins
 * (right, wrong, held) and refused calls with their address; updates as old → new; a date range
 * and its CSV export; FOG's host export (no header line), a semicolon CSV, groups the file names
 * that do not exist (a dry run writes nothing, the confirmed import creates them), a bad line
 * refused whole. Then in Chromium, on a desktop and a phone: the audit page's "from → to" and its
 * date range surviving a reload, a FOG file imported through the page with the offer to create its
 * group, no serious accessibility violation and no sideways scrolling. The import's dry run and
 * the audit's filters once more on PostgreSQL.
 */
import { suite } from '../suite.js';
import * as assert from 'uvu/assert';
import { parse as parseCsv } from 'csv-parse/sync';
import type { Browser, Page } from 'playwright-core';
import { workDir } from './fixtures.js';
import { endLab, type Lab, startLabProcesses, stopLab } from './processes.js';
import { call, expectError, login } from './portal-http.js';
import { freshPostgres } from './postgres.js';
import { DESKTOP, horizontalOverflow, launchBrowser, loggedIn, openNav, PHONE, seriousA11yViolations } from '../browser.js';
import { AuditListSchema, GroupListSchema, HostImportSchema, HostListSchema, UserSchema } from '../../shared/http/portal-contract.js';

const PASSWORD = 'correct horse battery';
const T = suite<{ lab: Lab; base: string; admin: string; browser: Browser }>('portal audit and import');

T.before(async (ctx) => {
  const dir = workDir();
  ctx.lab = await startLabProcesses(dir, [], [], 0, { adminPassword: PASSWORD });
  ctx.base = ctx.lab.portal.url;
  ctx.admin = ctx.lab.token;
  ctx.browser = await launchBrowser();
});
T.after((ctx) => endLab(ctx.lab, ctx.browser));

const auditOf = async (ctx: { base: string; admin: string }, q = '') =>
  (await call(ctx.base, 'GET', `/api/v1/audit?limit=1000${q}`, { as: ctx.admin, schema: AuditListSchema })).body;
const hostsOf = async (ctx: { base: string; admin: string }) =>
  (await call(ctx.base, 'GET', '/api/v1/hosts', { as: ctx.admin, schema: HostListSchema })).body.hosts;
const groupsOf = async (ctx: { base: string; admin: string }) =>
  (await call(ctx.base, 'GET', '/api/v1/groups', { as: ctx.admin, schema: GroupListSchema })).body.groups.map((g) => g.name).sort();
const loopback = /^(::ffff:)?127\.0\.0\.1$/;
/** The elements that reach past the right edge of the screen, for a message. */
const tooWide = (page: Page): Promise<string> =>
  page.evaluate(() =>
    [...document.querySelectorAll<HTMLElement>('body *')]
      .filter((e) => e.getBoundingClientRect().right > document.documentElement.clientWidth + 1)
      .slice(-6)
      .map(
        (e) =>
          `${e.tagName.toLowerCase()}${e.dataset.testid ? `[${e.dataset.testid}]` : ''}.${e.className} (${Math.round(e.getBoundingClientRect().right)} px)`,
      )
      .join(', '),
  );
const detailOf = (e: { detail?: unknown }): Record<string, unknown> =>
  typeof e.detail === 'object' && e.detail !== null ? (e.detail as Record<string, unknown>) : {};

T('logins: a wrong password, a login and a held login are in the audit log with their address', async (ctx) => {
  expectError(
    await call(ctx.base, 'POST', '/api/v1/session', { body: { username: 'admin', password: 'not it' } }),
    401,
    /wrong user name or password/,
    'wrong',
  );
  await login(ctx.base, 'admin', PASSWORD);
  // Three wrong tries hold the name and the address for a second; the fourth is refused unchecked.
  for (let i = 0; i < 3; i++) await call(ctx.base, 'POST', '/api/v1/session', { body: { username: 'ghost', password: 'guess' } });
  assert.is((await call(ctx.base, 'POST', '/api/v1/session', { body: { username: 'ghost', password: 'guess' } })).status, 429);
  await new Promise((r) => setTimeout(r, 1_200));
  // The right password clears the address's count again, for the browser's logins below.
  await login(ctx.base, 'admin', PASSWORD);
  const { entries } = await auditOf(ctx, '&action=session');
  assert.ok(
    entries.some((e) => e.action === 'session.refused' && e.actor === 'admin' && detailOf(e).reason === 'wrong password' && loopback.test(e.target ?? '')),
    'the wrong password, with its address',
  );
  assert.ok(
    entries.some((e) => e.action === 'session.login' && e.actor === 'admin' && loopback.test(e.target ?? '')),
    'the login, with its address',
  );
  const held = entries.filter((e) => detailOf(e).reason === 'locked out');
  assert.is(held.length, 1, `one entry for the hold, however many tries: ${JSON.stringify(held)}`);
  assert.ok(loopback.test(held[0]!.target ?? ''), 'the held address');
});

T('a role change is logged as from → to; a call refused for lack of rights is logged', async (ctx) => {
  const made = await call(ctx.base, 'POST', '/api/v1/users', {
    as: ctx.admin,
    body: { name: 'viewer', password: 'viewer password', role: 'image-admin' },
    schema: UserSchema,
  });
  assert.is(made.status, 201);
  assert.is((await call(ctx.base, 'PATCH', '/api/v1/users/viewer', { as: ctx.admin, body: { role: 'readonly' }, schema: UserSchema })).body.role, 'readonly');
  expectError(
    await call(ctx.base, 'POST', '/api/v1/users', { as: ctx.admin, body: { name: 'viewer', password: 'another one', role: 'readonly' } }),
    409,
    /exists/,
    'a name taken',
  );
  const short = await call(ctx.base, 'POST', '/api/v1/users', { as: ctx.admin, body: { name: 'viewer', password: 'x', role: 'readonly' } });
  assert.is(short.status, 400);
  assert.is((short.body as { field?: string }).field, 'password', 'a short password names its field');
  const viewer = await login(ctx.base, 'viewer', 'viewer password');
  assert.is((await call(ctx.base, 'POST', '/api/v1/groups', { as: viewer, body: { name: 'Nope' } })).status, 403);
  const { entries } = await auditOf(ctx);
  const change = entries.find((e) => e.action === 'user.update' && e.target === 'viewer');
  assert.equal(change?.detail, { role: { from: 'image-admin', to: 'readonly' } });
  assert.is(change?.summary, 'role: image-admin → readonly');
  const refused = entries.find((e) => e.action === 'access.refused' && e.actor === 'viewer');
  assert.is(refused?.target, 'POST /api/v1/groups');
  assert.ok(loopback.test(String(detailOf(refused!).address)), 'the refused call, with its address');
  // A script looping on a refusal does not fill the log: its calls within the minute are counted, not written.
  const before = (await auditOf(ctx, '&action=access.refused&actor=viewer')).total;
  for (let i = 0; i < 20; i++) assert.is((await call(ctx.base, 'POST', '/api/v1/groups', { as: viewer, body: { name: 'Nope' } })).status, 403);
  assert.is((await auditOf(ctx, '&action=access.refused&actor=viewer')).total, before, 'twenty more refusals within the minute: no new entry');
  // A route is logged by its pattern, not by the name in its path.
  assert.is((await call(ctx.base, 'DELETE', '/api/v1/groups/Room%20Z', { as: viewer })).status, 403);
  const byPattern = (await auditOf(ctx, '&action=access.refused&actor=viewer')).entries.map((e) => e.target);
  assert.ok(byPattern.includes('DELETE /api/v1/groups/:name'), byPattern.join(', '));
});

T('the date range returns only the entries in range; the CSV export has a header and the same rows', async (ctx) => {
  assert.is((await call(ctx.base, 'POST', '/api/v1/groups', { as: ctx.admin, body: { name: 'Before' } })).status, 201);
  await new Promise((r) => setTimeout(r, 30));
  const cut = new Date().toISOString();
  await new Promise((r) => setTimeout(r, 30));
  assert.is((await call(ctx.base, 'POST', '/api/v1/groups', { as: ctx.admin, body: { name: 'After' } })).status, 201);
  const after = await auditOf(ctx, `&action=group&from=${encodeURIComponent(cut)}`);
  assert.equal(
    after.entries.map((e) => e.target),
    ['After'],
  );
  assert.is(after.total, 1);
  const before = await auditOf(ctx, `&action=group.create&to=${encodeURIComponent(cut)}`);
  assert.ok(before.entries.some((e) => e.target === 'Before') && !before.entries.some((e) => e.target === 'After'), 'to: only what came before');
  const yesterday = new Date(Date.now() - 86_400_000).toISOString().slice(0, 10);
  assert.is((await auditOf(ctx, `&to=${yesterday}`)).total, 0, 'nothing up to yesterday');
  const today = new Date().toISOString().slice(0, 10);
  const all = await auditOf(ctx);
  assert.is((await auditOf(ctx, `&from=${today}&to=${today}`)).total, all.total, 'today (a day given as a date) holds everything');
  // Paged: the page and the total.
  const page = await call(ctx.base, 'GET', '/api/v1/audit?limit=2&offset=1', { as: ctx.admin, schema: AuditListSchema });
  assert.equal(
    page.body.entries.map((e) => e.id),
    all.entries.slice(1, 3).map((e) => e.id),
  );
  assert.is(page.body.total, all.total);
  expectError(await call(ctx.base, 'GET', '/api/v1/audit?from=yesterday', { as: ctx.admin }), 400, /from/, 'a date that is not one');

  const csv = await call(ctx.base, 'GET', '/api/v1/audit.csv?action=group', { as: ctx.admin });
  assert.is(csv.status, 200);
  assert.match(csv.headers.get('content-type')!, /text\/csv/);
  const [header, ...rows] = parseCsv(csv.text);
  assert.equal(header, ['id', 'at', 'actor', 'action', 'target', 'detail']);
  const json = (await auditOf(ctx, '&action=group')).entries;
  assert.equal(
    rows,
    json.map((e) => [String(e.id), e.at, e.actor, e.action, e.target ?? '', e.summary]),
  );
});

/** FOG's host export: no header line; MACs (| between them), name, description, IP, image ID, building, then AD, key and kernel settings. */
const fogLine = (mac: string, name: string, description: string, ip: string) =>
  `${mac}|${mac.replace(/..$/, 'ff')},${name},"${description}",${ip},3,,0,,,,,,,,,`;

T('a FOG export (no header) and a semicolon CSV import with their names', async (ctx) => {
  const fog = [fogLine('52:54:00:f0:00:01', 'fog-pc-1', 'Room 7, left row', '10.0.7.11'), fogLine('52:54:00:f0:00:02', 'fog-pc-2', 'Room 7', '10.0.7.12')].join(
    '\r\n',
  );
  const dry = await call(ctx.base, 'POST', '/api/v1/hosts/import?dryRun=true', { as: ctx.admin, csv: fog, schema: HostImportSchema });
  assert.equal(dry.body, { created: 2, updated: 0, dryRun: true, unknownGroups: [], format: 'fog', delimiter: ',' });
  const r = await call(ctx.base, 'POST', '/api/v1/hosts/import', { as: ctx.admin, csv: fog, schema: HostImportSchema });
  assert.equal(r.body, { created: 2, updated: 0 });
  const hosts = await hostsOf(ctx);
  assert.equal(
    ['52:54:00:f0:00:01', '52:54:00:f0:00:02'].map((m) => hosts.find((h) => h.mac === m)?.name),
    ['fog-pc-1', 'fog-pc-2'],
  );
  assert.not.ok(
    hosts.some((h) => h.mac.endsWith(':ff')),
    'the extra MACs are not hosts of their own',
  );

  const semi = 'mac;name;disk\n52-54-00-5E-00-01;semi-1;/dev/nvme0n1\n52:54:00:5e:00:02;semi-2;\n';
  const s = await call(ctx.base, 'POST', '/api/v1/hosts/import', { as: ctx.admin, csv: semi, schema: HostImportSchema });
  assert.equal(s.body, { created: 2, updated: 0 });
  const after = await hostsOf(ctx);
  assert.equal(
    after.filter((h) => h.name?.startsWith('semi-')).map((h) => [h.mac, h.name, h.disk]),
    [
      ['52:54:00:5e:00:01', 'semi-1', '/dev/nvme0n1'],
      ['52:54:00:5e:00:02', 'semi-2', null],
    ],
  );
});

T('unknown groups: the dry run writes nothing and names them; the confirmed import creates them; a bad line refuses the whole file', async (ctx) => {
  const csv = [
    'mac,name,group',
    '52:54:00:9a:00:01,r7-1,Room 7',
    '52:54:00:9a:00:02,r8-1,Room 8',
    '52:54:00:9a:00:03,lb-1,Lab B',
    '52:54:00:f0:00:01,fog-pc-1,Room 7',
  ].join('\n');
  const groups = await groupsOf(ctx);
  const hosts = await hostsOf(ctx);
  const logged = (await auditOf(ctx)).total;
  const dry = await call(ctx.base, 'POST', '/api/v1/hosts/import?dryRun=true', { as: ctx.admin, csv, schema: HostImportSchema });
  assert.equal(dry.body, { created: 3, updated: 1, dryRun: true, unknownGroups: ['Room 7', 'Room 8', 'Lab B'], format: 'header', delimiter: ',' });
  assert.equal(await groupsOf(ctx), groups, 'the dry run made no group');
  assert.equal(await hostsOf(ctx), hosts, 'the dry run changed no host');
  assert.is((await auditOf(ctx)).total, logged, 'the dry run logged nothing');
  // Without the admin's yes, an unknown group refuses the file, naming the line.
  expectError(await call(ctx.base, 'POST', '/api/v1/hosts/import', { as: ctx.admin, csv }), 400, /line 2: unknown group Room 7/, 'not confirmed');

  // A bad line: nothing is written, not even the groups it would have made.
  const bad = `${csv}\n52:54:00:9a:00:04,bad name!,Lab B\n`;
  expectError(
    await call(ctx.base, 'POST', '/api/v1/hosts/import?createGroups=true', { as: ctx.admin, csv: bad }),
    400,
    /CSV line 6: name/,
    'a bad name on line 6',
  );
  const fogBad = `${fogLine('52:54:00:f0:00:09', 'fog-9', '', '')}\n${fogLine('52:54:00:f0:00:0a', 'fog-10', '', '')}\nnot-a-mac,fog-11\n`;
  expectError(
    await call(ctx.base, 'POST', '/api/v1/hosts/import?createGroups=true&group=Room%209', { as: ctx.admin, csv: fogBad }),
    400,
    /CSV line 3: the first column is not a MAC address/,
    'a FOG line without a MAC',
  );
  assert.equal(await groupsOf(ctx), groups, 'a refused file made no group');
  assert.equal(await hostsOf(ctx), hosts, 'a refused file changed no host');

  const r = await call(ctx.base, 'POST', '/api/v1/hosts/import?createGroups=true', { as: ctx.admin, csv, schema: HostImportSchema });
  assert.equal(r.body, { created: 3, updated: 1, groupsCreated: ['Room 7', 'Room 8', 'Lab B'] });
  assert.equal(await groupsOf(ctx), [...groups, 'Lab B', 'Room 7', 'Room 8'].sort());
  const now = await hostsOf(ctx);
  assert.equal(
    ['52:54:00:9a:00:01', '52:54:00:9a:00:03', '52:54:00:f0:00:01'].map((m) => now.find((h) => h.mac === m)?.group),
    ['Room 7', 'Lab B', 'Room 7'],
  );
  const { entries } = await auditOf(ctx);
  assert.ok(entries.some((e) => e.action === 'group.create' && e.target === 'Lab B' && detailOf(e).by === 'host import'));
});

T('on PostgreSQL too: the dry run rolls back, the confirmed import makes its groups, the audit range and its CSV agree', async () => {
  const db = freshPostgres();
  const lab = await startLabProcesses(workDir(), [], [], 0, { database: db.url });
  try {
    const pg = { base: lab.portal.url, admin: lab.token };
    const csv = 'mac;name;group\n52:54:00:7a:00:01;pg-1;Room P\n52:54:00:7a:00:02;pg-2;Room Q\n';
    const dry = await call(pg.base, 'POST', '/api/v1/hosts/import?dryRun=true', { as: pg.admin, csv, schema: HostImportSchema });
    assert.equal(dry.body, { created: 2, updated: 0, dryRun: true, unknownGroups: ['Room P', 'Room Q'], format: 'header', delimiter: ';' });
    assert.equal(await groupsOf(pg), []);
    assert.equal(await hostsOf(pg), []);
    const r = await call(pg.base, 'POST', '/api/v1/hosts/import?createGroups=true', { as: pg.admin, csv, schema: HostImportSchema });
    assert.equal(r.body, { created: 2, updated: 0, groupsCreated: ['Room P', 'Room Q'] });
    assert.equal(await groupsOf(pg), ['Room P', 'Room Q']);
    const today = new Date().toISOString().slice(0, 10);
    const inRange = await auditOf(pg, `&from=${today}&action=group`);
    assert.equal(inRange.entries.map((e) => e.target).sort(), ['Room P', 'Room Q']);
    const [, ...rows] = parseCsv((await call(pg.base, 'GET', `/api/v1/audit.csv?from=${today}&action=group`, { as: pg.admin })).text);
    assert.equal(
      rows,
      inRange.entries.map((e) => [String(e.id), e.at, e.actor, e.action, e.target ?? '', e.summary]),
    );
  } finally {
    await stopLab(lab);
    db.drop();
  }
});

T('a read-only user going through every page the UI offers them makes no call the portal refuses (the audit log would fill)', async (ctx) => {
  const refusedBefore = (await auditOf(ctx, '&action=access.refused&actor=viewer')).total;
  const { page, errors } = await loggedIn(ctx.browser, ctx.base, 'viewer', 'viewer password');
  for (const nav of ['nav-home', 'nav-tasks', 'nav-hosts', 'nav-groups', 'nav-images', 'nav-storage']) {
    await openNav(page, nav);
    await page.waitForLoadState('networkidle');
  }
  const refused = await auditOf(ctx, '&action=access.refused&actor=viewer');
  assert.is(refused.total, refusedBefore, `refused: ${refused.entries.map((e) => e.target).join(', ')}`);
  assert.equal(errors, []);
  await page.context().close();
});

for (const [screen, viewport] of [
  ['desktop', DESKTOP],
  ['phone', PHONE],
] as const) {
  T(`in the browser on a ${screen}: the audit page's from → to and date range after a reload; a FOG file imported with its new group`, async (ctx) => {
    const { page, errors, id } = await loggedIn(ctx.browser, ctx.base, 'admin', PASSWORD, viewport);
    const today = await page.evaluate(() => {
      const d = new Date();
      return `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, '0')}-${String(d.getDate()).padStart(2, '0')}`;
    });
    await openNav(page, 'nav-audit');
    await id('audit-row').first().waitFor();
    await id('audit-action').fill('user.update');
    await id('audit-action').press('Tab');
    await id('audit-from').fill(today);
    await page.waitForFunction(() => /from=\d{4}-\d{2}-\d{2}/.test(location.hash) && location.hash.includes('action=user.update'), undefined, {
      timeout: 10_000,
    });
    await id('audit-detail').filter({ hasText: 'role: image-admin → readonly' }).waitFor();
    assert.equal(await seriousA11yViolations(page), [], `audit on a ${screen}`);
    assert.is(await horizontalOverflow(page), 0, `audit on a ${screen}: wider than the screen: ${await tooWide(page)}`);
    await page.reload();
    await id('audit-detail').filter({ hasText: 'role: image-admin → readonly' }).waitFor();
    assert.is(await id('audit-from').inputValue(), today, 'the range survives a reload');
    assert.is(await id('audit-action').inputValue(), 'user.update');
    assert.match(page.url(), /action=user\.update/);
    assert.is(await id('audit-row').count(), 1, 'only the filtered entries');
    assert.match((await id('audit-csv').getAttribute('href')) ?? '', /^\/api\/v1\/audit\.csv\?from=.*action=user\.update/, 'the export takes the same filters');

    await openNav(page, 'nav-users');
    await id('user-name').fill('viewer');
    await id('user-password').fill('short');
    await id('user-submit').click();
    await id('field-error').filter({ hasText: 'at least 8 characters' }).waitFor();
    assert.equal(await seriousA11yViolations(page), [], `users on a ${screen}`);
    assert.is(await horizontalOverflow(page), 0, `users on a ${screen}: wider than the screen: ${await tooWide(page)}`);

    for (const nav of ['nav-groups', 'nav-storage']) {
      await openNav(page, nav);
      await page.waitForLoadState('networkidle');
      assert.is(await horizontalOverflow(page), 0, `${nav} on a ${screen}: wider than the screen: ${await tooWide(page)}`);
    }

    const n = screen === 'desktop' ? 1 : 2;
    const fog = `${fogLine(`52:54:00:e${n}:00:01`, `${screen}-1`, 'front', '10.0.8.1')}\n${fogLine(`52:54:00:e${n}:00:02`, `${screen}-2`, 'back', '10.0.8.2')}\n`;
    await openNav(page, 'nav-hosts');
    await id('csv-import-open').click();
    await id('csv-group').fill(`Lab ${screen}`);
    await id('csv-file').setInputFiles({ name: 'fog-hosts.csv', mimeType: 'text/csv', buffer: Buffer.from(fog) });
    await id('csv-preview')
      .filter({ hasText: `1 group is unknown: Lab ${screen}` })
      .waitFor();
    assert.match((await id('csv-preview').textContent()) ?? '', /FOG’s host export.*2 hosts would be created, 0 updated/s);
    assert.equal(await seriousA11yViolations(page), [], `the import dialog on a ${screen}`);
    assert.is(await horizontalOverflow(page), 0, `the import dialog on a ${screen}: wider than the screen: ${await tooWide(page)}`);
    assert.is((await id('csv-confirm').textContent())?.trim(), 'Create the group and import');
    await id('csv-confirm').click();
    await id('toast').filter({ hasText: 'Imported fog-hosts.csv: 2 created, 0 updated; 1 group created.' }).waitFor();
    await page.getByText(`${screen}-2`).first().waitFor();
    const hosts = await hostsOf(ctx);
    assert.equal(
      hosts.filter((h) => h.name?.startsWith(`${screen}-`)).map((h) => h.group),
      [`Lab ${screen}`, `Lab ${screen}`],
    );
    assert.equal(errors, [], 'no console or page errors');
    await page.context().close();
  });
}

T.run();
