/**
 * The portal a lab team uses all day, in Debian's Chromium against the real lab processes (portal,
 * tracker, a storage node on loopback): the home page, the task list and the task page follow a
 * task as PCs report (reports sent here with the PCs' task keys, as a PC's client would), at a
 * desktop's and a phone's size. One PC of a task is cancelled and told so; a past start time is
 * refused beside its field; a multicast task shows its session as the node's udp-sender runs it,
 * and cancelling the task stops udp-sender.
 */
import { suite } from '../suite.js';
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { blankDisk, workDir } from './fixtures.js';
import { captureLabImage, endLab, type Lab, shoalBackground, startLabProcesses, waitFor } from './processes.js';
import { DESKTOP, horizontalOverflow, launchBrowser, loggedIn, openNav, PHONE, seriousA11yViolations, type Viewport } from '../browser.js';
import { ProgressReplySchema } from '../../shared/http/api.js';
import { HostSchema, HostTaskSchema, TaskListSchema, TaskSchema } from '../../shared/http/portal-contract.js';

const PASSWORD = 'correct horse battery';
const MiB = 1024 * 1024;
const T = suite<{ dir: string; lab: Lab; browser: Browser }>('portal tasks ui');

T.before(async (ctx) => {
  ctx.dir = workDir();
  const { store } = await captureLabImage(ctx.dir);
  ctx.lab = await startLabProcesses(ctx.dir, [store], [], 1, { adminPassword: PASSWORD });
  ctx.browser = await launchBrowser();
});
T.after((ctx) => endLab(ctx.lab, ctx.browser));

let hostNo = 0;
/** Registers `n` new hosts, named pc-N, and returns their MACs and names. */
async function newHosts(lab: Lab, n: number): Promise<Array<{ mac: string; name: string }>> {
  const made = [];
  for (let i = 0; i < n; i++) {
    hostNo++;
    const host = { mac: `52:54:00:7a:00:${hostNo.toString(16).padStart(2, '0')}`, name: `pc-${hostNo}` };
    await lab.client.post(HostSchema, '/api/v1/hosts', host);
    made.push(host);
  }
  return made;
}

/** What a PC's client would do: ask for its task (which takes its key), then report. */
async function pcKey(lab: Lab, mac: string): Promise<string> {
  const res = await fetch(`${lab.portal.url}/api/v1/hosts/${mac}/task`);
  const task = HostTaskSchema.parse(await res.json());
  assert.ok('key' in task, `${mac} has a task`);
  return (task as { key: string }).key;
}

async function report(lab: Lab, taskId: number, mac: string, key: string, body: object) {
  const res = await fetch(`${lab.portal.url}/api/v1/tasks/${taskId}/hosts/${mac}/progress`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  assert.is(res.status, 200, `report of ${mac}: ${res.status}`);
  return ProgressReplySchema.parse(await res.json());
}

const running = (done: number) => ({
  state: 'running',
  piecesDone: done,
  piecesTotal: 100,
  bytesDone: done * MiB,
  bytesTotal: 100 * MiB,
  downloadBytesPerSec: MiB,
  uploadBytesPerSec: 0,
  downloadedBytes: done * MiB,
  uploadedBytes: 0,
  peers: 1,
});
const failed = { ...running(0), state: 'failed', error: 'disk /dev/sda not found', downloadBytesPerSec: 0 };

const deploy = (lab: Lab, hosts: string[]) => lab.client.post(TaskSchema, '/api/v1/tasks', { kind: 'deploy', image: 'lab', hosts, wake: false });

async function checkPage(page: Page, what: string, viewport: Viewport): Promise<void> {
  // SHOAL_TEST_SCREENSHOTS=DIR keeps a picture of each page checked, to look at the UI.
  const dir = process.env.SHOAL_TEST_SCREENSHOTS;
  if (dir) await page.screenshot({ path: join(dir, `${what.replaceAll(' ', '-')}-${viewport.width}.png`), fullPage: true });
  assert.equal(await seriousA11yViolations(page), [], `${what}: axe-core's serious violations`);
  if (viewport === PHONE) assert.is(await horizontalOverflow(page), 0, `${what}: wider than the phone`);
}

for (const [screen, viewport] of [
  ['desktop', DESKTOP],
  ['phone', PHONE],
] as const) {
  T(`${screen}: the home page, the task list and the task page follow a task live; one PC cancelled is told to stop`, async (ctx) => {
    const { lab } = ctx;
    const [a, b, c, d] = await newHosts(lab, 4);
    const task = await deploy(lab, [a!.mac, b!.mac, c!.mac]);
    const keys = { a: await pcKey(lab, a!.mac), b: await pcKey(lab, b!.mac) };
    await report(lab, task.id, a!.mac, keys.a, running(40));
    await report(lab, task.id, b!.mac, keys.b, failed);

    const { page, errors, id } = await loggedIn(ctx.browser, lab.portal.url, 'admin', PASSWORD, viewport);
    // Home: the task with its bar (named for it, leading to it), the failed PC by name.
    const bar = page.getByRole('progressbar', { name: new RegExp(`^Task ${task.id}: deploy of lab`) });
    await bar.waitFor({ timeout: 15_000 });
    assert.ok(Number(await bar.getAttribute('value')) > 0, 'the bar shows progress');
    assert.is(await page.getByRole('link', { name: new RegExp(`^Task ${task.id}: deploy of lab`) }).getAttribute('href'), `#/tasks/${task.id}`);
    const failedRow = id('home-failed').filter({ hasText: b!.name });
    await failedRow.waitFor({ timeout: 15_000 });
    assert.is(await failedRow.getByRole('link', { name: b!.name }).getAttribute('href'), `#/hosts/${encodeURIComponent(b!.mac)}`);
    assert.is(await failedRow.getByRole('link', { name: `task ${task.id}` }).count(), 1);
    if (viewport === PHONE) {
      const tasksTop = (await id('home-task').first().boundingBox())!.y;
      const failedTop = (await failedRow.boundingBox())!.y;
      assert.ok(tasksTop < failedTop, 'on a phone the live tasks come first');
    }
    await id('home-chart-summary').waitFor();
    await checkPage(page, 'home', viewport);

    // The task page: elapsed time and an ETA from the total rate while the PC reports.
    await page.goto(`/#/tasks/${task.id}`);
    await id('sse-status').filter({ hasText: 'live' }).waitFor();
    await page.evaluate(() => ((window as unknown as { stillHere: boolean }).stillHere = true));
    await report(lab, task.id, a!.mac, keys.a, running(50));
    await page.waitForFunction(() => /ETA \d/.test(document.querySelector('[data-testid="task-eta"]')?.textContent ?? ''), undefined, {
      timeout: 15_000,
    });
    assert.match((await id('task-elapsed').textContent()) ?? '', /Elapsed \d+ (s|min)/);
    // 50 MiB to go at 1 MiB/s.
    assert.match((await id('task-eta').textContent()) ?? '', /ETA 50 s/);
    assert.match((await id('task-finish').textContent()) ?? '', /then reboot/);
    await checkPage(page, 'task page', viewport);

    // Cancel one PC from its row: it alone becomes cancelled, and its client is told to stop.
    const cancel = page.getByRole('button', { name: `Cancel ${a!.name}` });
    await cancel.click();
    await page.getByRole('button', { name: `Cancel ${a!.name}: sure?` }).click();
    await page.locator(`[data-testid="host-row"][data-mac="${a!.mac}"][data-state="cancelled"]`).waitFor({ timeout: 10_000 });
    const after = await lab.client.get(TaskSchema, `/api/v1/tasks/${task.id}`);
    assert.equal(
      after.hosts.map((h) => [h.mac, h.state]),
      [
        [a!.mac, 'cancelled'],
        [b!.mac, 'failed'],
        [c!.mac, 'queued'],
      ],
      'the others stay as they were',
    );
    assert.is(after.state, 'active');
    const told = await report(lab, task.id, a!.mac, keys.a, running(51));
    assert.is(told.cancelled, true, 'the next report answers cancelled');
    const next = HostTaskSchema.parse(await (await fetch(`${lab.portal.url}/api/v1/hosts/${a!.mac}/task`)).json());
    assert.is(next.kind, 'none', 'its next task request finds nothing to do');
    const audit = await (await fetch(`${lab.portal.url}/api/v1/audit?action=task.host.cancel`, { headers: { authorization: `Bearer ${lab.token}` } })).text();
    assert.match(audit, new RegExp(`task ${task.id}.*${a!.mac}`), 'audited');
    assert.ok(await page.getByRole('button', { name: `Retry ${b!.name}` }).isVisible(), 'the failed PC has its own Retry');

    // The task list: a task made through the API appears without a reload, and what is typed
    // into the form stays.
    await openNav(page, 'nav-tasks');
    await page.locator(`[data-testid="task-row"][data-id="${task.id}"]`).waitFor();
    // On a phone the list comes first and the form opens from its heading.
    assert.is(await id('task-kind').isVisible(), viewport !== PHONE, 'the form open on a desktop only');
    if (viewport === PHONE) await page.getByText('New task', { exact: true }).click();
    await page.getByLabel('Version').fill('7');
    const other = await deploy(lab, [d!.mac]);
    await page.locator(`[data-testid="task-row"][data-id="${other.id}"]`).waitFor({ timeout: 15_000 });
    await lab.client.post(TaskSchema, `/api/v1/tasks/${other.id}/cancel`);
    await page.locator(`[data-testid="task-row"][data-id="${other.id}"][data-state="cancelled"]`).waitFor({ timeout: 15_000 });
    assert.is(await page.getByLabel('Version').inputValue(), '7', 'the form kept what was typed');
    assert.ok(await page.evaluate(() => (window as unknown as { stillHere?: boolean }).stillHere === true), 'never reloaded');
    await checkPage(page, 'tasks', viewport);

    // A start time gone is refused beside its field, the field focused.
    await id('task-kind').selectOption('deploy');
    await id('task-image').selectOption('lab');
    await page.getByLabel('Version').fill('');
    await page.getByRole('radio', { name: 'picked hosts' }).check();
    await page.getByRole('checkbox', { name: new RegExp(d!.name) }).check();
    await id('task-start-at').fill('2020-01-01T10:00');
    await id('task-submit').click();
    await page
      .getByTestId('field-error')
      .filter({ hasText: /scheduledAt .* is in the past/ })
      .waitFor({ timeout: 10_000 });
    assert.is(await page.evaluate(() => document.activeElement?.getAttribute('data-testid')), 'task-start-at', 'the field is focused');
    assert.is(await id('task-start-at').getAttribute('aria-invalid'), 'true');

    await lab.client.post(TaskSchema, `/api/v1/tasks/${task.id}/cancel`);
    // The list's view is in the address: only cancelled tasks, a page of them, kept through a reload.
    const cancelled = await lab.client.get(TaskListSchema, '/api/v1/tasks?state=cancelled&limit=1&offset=1');
    assert.is(cancelled.tasks.length, 1, 'a page of one');
    assert.ok(cancelled.total >= 2, `every cancelled task counted (${cancelled.total})`);
    await page.goto('/#/tasks?state=cancelled');
    await page.reload();
    await id('task-row').first().waitFor();
    const states = await id('task-row').evaluateAll((rows) => rows.map((r) => (r as HTMLElement).dataset.state));
    assert.ok(states.length > 0 && states.every((st) => st === 'cancelled'), `only cancelled tasks shown: ${states.join(', ')}`);
    assert.is(await page.getByRole('combobox', { name: 'State' }).inputValue(), 'cancelled', 'the filter as the address says');
    assert.equal(errors, [], 'no console or page errors');
    await page.context().close();
  });
}

T('a real PC cancelled alone stops fetching at its next report and says why; the other PC deploys on', async (ctx) => {
  const { lab } = ctx;
  const [a, b] = await newHosts(lab, 2);
  const task = await deploy(lab, [a!.mac, b!.mac]);
  // Slow enough (256 KiB/s) to be cut half-way.
  const pc = shoalBackground([
    'join',
    '--portal',
    lab.portal.url,
    '--disk',
    blankDisk(join(ctx.dir, 'cancel-pc.img'), 320 * MiB),
    '--mac',
    a!.mac,
    '--download-limit',
    String(256 * 1024),
  ]);
  await waitFor('the PC fetching', 30_000, async () => {
    const t = await lab.client.get(TaskSchema, `/api/v1/tasks/${task.id}`);
    return (t.hosts.find((h) => h.mac === a!.mac)?.progress?.piecesDone ?? 0) > 0 ? true : undefined;
  });
  await lab.client.post(TaskSchema, `/api/v1/tasks/${task.id}/hosts/${a!.mac}/cancel`);
  const exited = await Promise.race([pc.exited, new Promise<undefined>((r) => setTimeout(r, 20_000))]);
  assert.ok(exited, 'the PC stopped within 20 s');
  assert.is.not(exited.code, 0);
  assert.match(exited.stderr, /an admin cancelled this PC's part in the task/);
  const t = await lab.client.get(TaskSchema, `/api/v1/tasks/${task.id}`);
  assert.equal(
    t.hosts.map((h) => h.state),
    ['cancelled', 'queued'],
  );
  assert.is(t.state, 'active', 'the task goes on for the other PC');
  await lab.client.post(TaskSchema, `/api/v1/tasks/${task.id}/cancel`);
});

/** The udp-sender processes running for a task (its port base, portal/nodes/multicast.ts). */
function udpSenders(taskId: number): string[] {
  const portbase = 9000 + (taskId % 1000) * 2;
  let out: string;
  try {
    out = execFileSync('pgrep', ['-a', 'udp-sender'], { encoding: 'utf8' });
  } catch {
    return []; // pgrep exits 1 when none runs
  }
  return out.split('\n').filter((l) => new RegExp(`--portbase ${portbase}( |$)`).test(l));
}

T('a multicast task shows its session (waiting for receivers, the sender running); cancelled, its udp-sender stops', async (ctx) => {
  const { lab } = ctx;
  const hosts = await newHosts(lab, 3);
  const task = await lab.client.post(TaskSchema, '/api/v1/tasks', {
    kind: 'multicast',
    image: 'lab',
    hosts: hosts.map((h) => h.mac),
    maxWaitSeconds: 600,
    wake: false,
    // Two minutes ago (a start time this little in the past is "now"): its PCs have waited long enough for the guide.
    scheduledAt: new Date(Date.now() - 120_000).toISOString(),
  });
  const { page, errors, id } = await loggedIn(ctx.browser, lab.portal.url, 'admin', PASSWORD, DESKTOP);
  await page.goto(`/#/tasks/${task.id}`);
  await id('sse-status').filter({ hasText: 'live' }).waitFor();
  // The node starts udp-sender at its next heartbeat and says so at the one after.
  await page.locator('[data-testid="multicast-session"][data-state="waiting"]').waitFor({ timeout: 30_000 });
  const said = (await id('multicast-session').textContent()) ?? '';
  assert.match(said, /waiting for receivers/);
  assert.match(said, /0 of 3 receivers joined/);
  assert.match(said, /sender on node0: running/);
  assert.is(udpSenders(task.id).length, 1, 'one udp-sender for the task');
  // None of its PCs has booted: the page says what to do, and Wake says why it cannot here (--no-wake).
  const guide = id('task-wait-guide');
  await guide.waitFor({ timeout: 10_000 });
  assert.match((await guide.textContent()) ?? '', /3 PCs have not started: set them to boot from the network, or Wake them/);
  await guide.getByRole('button', { name: 'Wake 3 PCs' }).click();
  await id('error-alert').filter({ hasText: '--no-wake' }).waitFor({ timeout: 10_000 });
  await checkPage(page, 'multicast task page', DESKTOP);

  await page.getByRole('button', { name: 'Cancel task' }).click();
  await page.getByRole('button', { name: 'Cancel task: sure?' }).click();
  const since = Date.now();
  await waitFor('no udp-sender for the cancelled task', 20_000, async () => (udpSenders(task.id).length === 0 ? true : undefined));
  console.log(`udp-sender gone ${Date.now() - since} ms after the cancel`);
  await page.locator('[data-testid="multicast-session"][data-state="stopped"]').waitFor({ timeout: 20_000 });
  assert.match((await id('multicast-session').textContent()) ?? '', /sender on node0: stopped/);
  assert.equal(errors, []);
  await page.context().close();
});

T.run();
