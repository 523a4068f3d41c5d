/**
 * The browser half of bench:portal: what a lab admin waits for in Debian's Chromium, against a
 * portal that holds `hosts` hosts and a deploy task whose `livePcs` simulated PCs report once a
 * second each (500 of them: 500 reports a second).
 *  - hosts_page_ms: from opening '#/hosts' in a fresh tab to the first host row on screen;
 *  - search_ms: from typing a host's full name into the search to the table showing only it;
 *  - live_busy_pct: the share of wall time the page's main thread was busy (Chromium's own
 *    TaskDuration) while the task page took the live feed for `liveSeconds`.
 */
import { chromium, type Page } from 'playwright-core';
import { GroupSchema, HostImportSchema, TaskSchema, UserSchema } from '../shared/http/portal-contract.js';
import type { PortalClient } from '../shared/http/portal-client.js';

export interface BrowserFigures {
  hosts_page_ms: number;
  search_ms: number;
  live_busy_pct: number;
  live_reports_per_s: number;
}

const USER = 'bench-browser';
const PASSWORD = 'bench browser password';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const mac = (i: number) =>
  `06:00:00:${((i >> 16) & 255).toString(16).padStart(2, '0')}:${((i >> 8) & 255).toString(16).padStart(2, '0')}:${(i & 255).toString(16).padStart(2, '0')}`;

async function logIn(page: Page): Promise<void> {
  await page.goto('/');
  await page.getByTestId('login-username').fill(USER);
  await page.getByTestId('login-password').fill(PASSWORD);
  await page.getByTestId('login-submit').click();
  await page.getByTestId('nav-home').waitFor();
}

/**
 * A meter of the page's main-thread busy seconds (Chromium's TaskDuration metric). One session
 * for the whole measurement: the counters start when a session enables them.
 */
async function busyMeter(page: Page): Promise<() => Promise<number>> {
  const cdp = await page.context().newCDPSession(page);
  await cdp.send('Performance.enable');
  return async () => (await cdp.send('Performance.getMetrics')).metrics.find((m) => m.name === 'TaskDuration')?.value ?? NaN;
}

export async function measureBrowser(o: {
  portal: string;
  admin: PortalClient;
  image: string;
  hosts: number;
  livePcs: number;
  liveSeconds: number;
}): Promise<BrowserFigures> {
  const { admin } = o;
  await admin.post(UserSchema, '/api/v1/users', { name: USER, password: PASSWORD, role: 'admin' });
  await admin.post(GroupSchema, '/api/v1/groups', { name: 'browser-live' });
  const csv = ['mac,name,group', ...Array.from({ length: o.hosts }, (_, i) => `${mac(i)},lab-${i},${i < o.livePcs ? 'browser-live' : ''}`)].join('\n');
  await admin.call(HostImportSchema, 'POST', '/api/v1/hosts/import', { text: { type: 'text/csv', data: csv } });

  const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox'] });
  try {
    const context = await browser.newContext({ baseURL: o.portal, viewport: { width: 1440, height: 900 } });
    const page = await context.newPage();
    await logIn(page);

    // A fresh tab on the hosts page: the app loads, asks for its hosts and draws them.
    const hostsTab = await context.newPage();
    let t0 = Date.now();
    await hostsTab.goto('/#/hosts');
    await hostsTab.locator('table tbody tr').first().waitFor({ timeout: 30_000 });
    const hostsPageMs = Date.now() - t0;

    const wanted = `lab-${o.hosts - 7}`;
    const search = hostsTab.getByRole('searchbox').first();
    t0 = Date.now();
    await search.fill(wanted);
    await hostsTab.waitForFunction(
      (name) => {
        const rows = [...document.querySelectorAll('table tbody tr')];
        return rows.length === 1 && (rows[0]!.textContent ?? '').includes(name);
      },
      wanted,
      { timeout: 30_000, polling: 'raf' },
    );
    const searchMs = Date.now() - t0;
    await hostsTab.close();

    // The live page: every PC of the task reports once a second, spread over the second.
    const task = await admin.post(TaskSchema, '/api/v1/tasks', { kind: 'deploy', image: o.image, group: 'browser-live', lingerSeconds: 60 });
    const macs = Array.from({ length: o.livePcs }, (_, i) => mac(i));
    const keys = await Promise.all(macs.map(async (m) => ((await (await fetch(`${o.portal}/api/v1/hosts/${m}/task`)).json()) as { key: string }).key));
    await page.goto(`/#/tasks/${task.id}`);
    await page.getByTestId('sse-status').filter({ hasText: 'live' }).waitFor({ timeout: 30_000 });
    let reports = 0;
    const until = Date.now() + (o.liveSeconds + 3) * 1000;
    const pcs = Promise.all(
      macs.map(async (m, i) => {
        await sleep((i / macs.length) * 1000);
        // Bounded by `until`.
        for (let n = 1; Date.now() < until; n++) {
          const t = Date.now();
          const res = await fetch(`${o.portal}/api/v1/tasks/${task.id}/hosts/${m}/progress`, {
            method: 'POST',
            headers: { authorization: `Bearer ${keys[i]}`, 'content-type': 'application/json' },
            body: JSON.stringify({
              state: 'running',
              piecesDone: n,
              piecesTotal: 10_000,
              bytesDone: n * 262_144,
              bytesTotal: 10_000 * 262_144,
              downloadBytesPerSec: 2e6,
              uploadBytesPerSec: 2e6,
              downloadedBytes: n * 262_144,
              uploadedBytes: n * 200_000,
              peers: 12,
            }),
          });
          await res.arrayBuffer();
          if (res.ok) reports++;
          await sleep(Math.max(0, 1000 - (Date.now() - t)));
        }
      }),
    );
    // Measured after the first seconds, once every PC reports.
    await sleep(3000);
    const busySeconds = await busyMeter(page);
    const busy0 = await busySeconds();
    const reports0 = reports;
    const w0 = Date.now();
    await sleep(o.liveSeconds * 1000);
    const busy1 = await busySeconds();
    const wall = (Date.now() - w0) / 1000;
    const liveReports = (reports - reports0) / wall;
    await pcs;
    await admin.post(TaskSchema, `/api/v1/tasks/${task.id}/cancel`);
    return {
      hosts_page_ms: hostsPageMs,
      search_ms: searchMs,
      live_busy_pct: +((100 * (busy1 - busy0)) / wall).toFixed(1),
      live_reports_per_s: +liveReports.toFixed(0),
    };
  } finally {
    await browser.close();
  }
}
