/**
 * Two portal processes on one PostgreSQL database, as behind a load balancer: a PC reports to
 * either and a dashboard open on the other sees it within a second; a key one portal forgot after
 * a cancel is not still taken by the other; a recurring schedule's run and a scheduled task's
 * start happen once between them; an image's next version and a host's place in a task are handed
 * out once between them, however their requests interleave. Real processes, a real PostgreSQL (postgres.ts), a real image on
 * a real storage node. Needs root for the source disk's loop devices and for starting PostgreSQL.
 */
import { suite } from '../suite.js';
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { cleanup, makeDisk, workDir } from './fixtures.js';
import { shoalOk } from './cli.js';
import { endLab, loopbackPortalArgs, startLabProcesses, startProcess, waitFor, type Lab, type ServerProcess } from './processes.js';
import { freshPostgres, type TestDatabase } from './postgres.js';
import { ProgressReplySchema, ScheduleSchema, TaskHostLogSchema, TaskListSchema, TaskSchema } from '../../shared/http/portal-contract.js';
import { call, DeployTaskSchema, login, progressReport } from './portal-http.js';
import { openDb } from '../../portal/db/open.js';
import { nextImageVersion } from '../../portal/images/image-versions.js';
import { insertNodeJob } from '../../portal/nodes/node-job-store.js';

const ADMIN_PASSWORD = 'correct horse battery';
/** What the issue asks of a report on one portal reaching a dashboard on the other. */
const DASHBOARD_MS = 1_000;

const T = suite<{ dir: string; db: TestDatabase; lab: Lab; other: ServerProcess; a: string; b: string; admin: string }>('two portals on one PostgreSQL');

T.before(async (ctx) => {
  ctx.dir = workDir();
  const store = join(ctx.dir, 'store');
  const disk = makeDisk(ctx.dir, 'src.img', 48, 'gpt', [{ sizeMiB: 24, fs: 'ext4', name: 'root' }], 2);
  shoalOk('capture', '--disk', disk.path, '--store', store, '--image', 'lab', '--type', 'multipart');
  ctx.db = freshPostgres();
  ctx.lab = await startLabProcesses(join(ctx.dir, 'lab'), [store], [], 1, { database: ctx.db.url, adminPassword: ADMIN_PASSWORD });
  // The second portal shares the first one's data directory (its lab secret signs the same keys)
  // and database; only its port differs, as two servers behind one name would.
  ctx.other = await startProcess('portal', await loopbackPortalArgs(ctx.lab.data, '--tracker', ctx.lab.tracker.url, '--database', ctx.db.url), {
    SHOAL_ADMIN_PASSWORD: ADMIN_PASSWORD,
  });
  ctx.a = ctx.lab.portal.url;
  ctx.b = ctx.other.url;
  ctx.admin = await login(ctx.a, 'admin', ADMIN_PASSWORD);
});

T.after(async (ctx) => {
  await ctx.other?.kill();
  await endLab(ctx.lab);
  ctx.db?.drop();
  cleanup();
});

/** A task's live feed, read as it comes. */
async function openFeed(base: string, taskId: number, cookie: string): Promise<{ until(re: RegExp): Promise<number>; close(): void }> {
  const ac = new AbortController();
  const res = await fetch(`${base}/api/v1/tasks/${taskId}/events`, { headers: { cookie }, signal: ac.signal });
  const reader = res.body!.getReader();
  let text = '';
  return {
    async until(re) {
      const deadline = Date.now() + 10_000;
      while (!re.test(text)) {
        if (Date.now() > deadline) throw new Error(`no ${re} in ${text.slice(-400)}`);
        text += new TextDecoder().decode((await reader.read()).value);
      }
      return Date.now();
    },
    close: () => ac.abort(),
  };
}

T('a PC reports to either portal; a dashboard on the other sees each report within a second', async ({ a, b, admin }) => {
  const mac = '52:54:00:c1:00:01';
  assert.is((await call(a, 'POST', '/api/v1/hosts', { as: admin, body: { mac } })).status, 201);
  const task = (await call(a, 'POST', '/api/v1/tasks', { as: admin, body: { kind: 'deploy', image: 'lab', hosts: [mac], wake: false }, schema: TaskSchema }))
    .body;
  const key = (await call(a, 'GET', `/api/v1/hosts/${mac}/task`, { schema: DeployTaskSchema })).body.key;
  const onB = await openFeed(b, task.id, admin);
  const onA = await openFeed(a, task.id, admin);
  try {
    await onB.until(/event: snapshot/);
    await onA.until(/event: snapshot/);
    const report = (base: string, piecesDone: number) =>
      call(base, 'POST', `/api/v1/tasks/${task.id}/hosts/${mac}/progress`, {
        as: key,
        body: { ...progressReport('running'), piecesDone, piecesTotal: 10 },
        schema: ProgressReplySchema,
      });
    let sent = Date.now();
    assert.is((await report(a, 3)).status, 200, 'portal A takes the report');
    let seen = await onB.until(/event: hosts\ndata: .*"piecesDone":3/);
    assert.ok(seen - sent < DASHBOARD_MS, `a report to A reached B's dashboard in ${seen - sent} ms`);
    sent = Date.now();
    assert.is((await report(b, 7)).status, 200, 'portal B takes the next report of the same PC');
    seen = await onA.until(/event: hosts\ndata: .*"piecesDone":7/);
    assert.ok(seen - sent < DASHBOARD_MS, `a report to B reached A's dashboard in ${seen - sent} ms`);
    // The progress both wrote is one row: the host's page on either portal shows the latest.
    await waitFor('the latest progress in the database', 5_000, async () => {
      const t = (await call(b, 'GET', `/api/v1/tasks/${task.id}`, { as: admin, schema: TaskSchema })).body;
      return t.hosts[0]?.progress?.piecesDone === 7 ? true : undefined;
    });
    // Cancelled on A: B, which had the host's key in its cache, must not go on taking its reports.
    assert.is((await call(a, 'POST', `/api/v1/tasks/${task.id}/cancel`, { as: admin })).status, 200);
    await onB.until(/event: task\ndata: .*"state":"cancelled"/);
    // Without word from A, B would take this from its cache as one more running report.
    const after = await report(b, 8);
    assert.is(after.body.cancelled, true, 'B tells the PC of the cancel made on A');
  } finally {
    onA.close();
    onB.close();
  }
});

T('a recurring schedule runs once and a scheduled task starts once, whichever portal sees it first', async ({ a, b, admin, db }) => {
  const mac = '52:54:00:c1:00:02';
  assert.is((await call(b, 'POST', '/api/v1/groups', { as: admin, body: { name: 'Cluster room' } })).status, 201);
  assert.is((await call(a, 'POST', '/api/v1/hosts', { as: admin, body: { mac, group: 'Cluster room' } })).status, 201);
  assert.is((await call(b, 'POST', '/api/v1/hosts', { as: admin, body: { mac: '52:54:00:c1:00:03' } })).status, 201, 'made on the other portal');
  const schedule = (
    await call(a, 'POST', '/api/v1/schedules', {
      as: admin,
      body: { name: 'nightly', cron: '30 2 * * *', task: { kind: 'deploy', image: 'lab', group: 'Cluster room', wake: true } },
      schema: ScheduleSchema,
    })
  ).body;
  const at = new Date(Date.now() + 3_000).toISOString();
  const scheduled = (
    await call(b, 'POST', '/api/v1/tasks', {
      as: admin,
      body: { kind: 'deploy', image: 'lab', hosts: ['52:54:00:c1:00:03'], scheduledAt: at },
      schema: TaskSchema,
    })
  ).body;
  // The nightly run made due now, in the database both portals read: each checks every 5 s.
  execFileSync('psql', [db.url, '-qc', `update schedules set next_run_ms = ${Date.now() - 1_000} where id = ${schedule.id}`]);
  const made = await waitFor('the schedule to run', 20_000, async () => {
    const list = (await call(b, 'GET', '/api/v1/tasks?limit=50', { as: admin, schema: TaskListSchema })).body;
    const mine = list.tasks.filter((t) => t.scheduleId === schedule.id);
    return mine.length ? mine : undefined;
  });
  // Both portals have had two more chances to run it again.
  await new Promise((r) => setTimeout(r, 11_000));
  const list = (await call(a, 'GET', '/api/v1/tasks?limit=50', { as: admin, schema: TaskListSchema })).body;
  assert.is(list.tasks.filter((t) => t.scheduleId === schedule.id).length, 1, `one task from the schedule, not ${made.length}+`);
  const started = list.tasks.find((t) => t.id === scheduled.id)!;
  assert.is(started.state, 'active', 'the scheduled task started');
  // Each start writes one line per host that could not be woken: two starts would write two.
  const log = (await call(a, 'GET', `/api/v1/tasks/${scheduled.id}/hosts/52:54:00:c1:00:03/log`, { as: admin, schema: TaskHostLogSchema })).body;
  const starts = log.entries.filter((l) => /not woken/.test(l.message)).length;
  assert.is(starts, 1, `the scheduled task's start logged once, not ${starts} times`);
});

T("an image's next version is handed out once between two portals, however their transactions interleave", async ({ db }) => {
  // Two connections of their own, as two portals hold: each transaction reads the next version,
  // waits, then writes its job. Without the portals taking turns all four read the same highest
  // version and would publish version 1 four times.
  const portals = [await openDb(db.url), await openDb(db.url)];
  try {
    const versions = await Promise.all(
      [0, 1, 0, 1].map((p) =>
        portals[p]!.transaction(async (tx) => {
          const version = await nextImageVersion(tx, 'raced');
          await new Promise((r) => setTimeout(r, 150));
          await insertNodeJob(tx, {
            kind: 'import',
            node: 'node-1',
            image_name: 'raced',
            image_version: version,
            state: 'queued',
            params: '{}',
            done_bytes: 0,
            total_bytes: 0,
            error: null,
            info_hash: null,
            created_by: 'test',
            created_ms: Date.now(),
            started_ms: null,
            updated_ms: null,
            finished_ms: null,
          });
          return version;
        }),
      ),
    );
    assert.equal([...versions].sort(), [1, 2, 3, 4]);
  } finally {
    await Promise.all(portals.map((p) => p.destroy()));
  }
});

T('a host asked for by both portals at once joins one task; the other request is refused', async ({ a, b, admin }) => {
  const macs = Array.from({ length: 6 }, (_, i) => `52:54:00:c1:01:0${i}`);
  for (const mac of macs) assert.is((await call(a, 'POST', '/api/v1/hosts', { as: admin, body: { mac } })).status, 201);
  for (const mac of macs) {
    const tries = await Promise.all(
      [a, b].map((base) => call(base, 'POST', '/api/v1/tasks', { as: admin, body: { kind: 'deploy', image: 'lab', hosts: [mac], wake: false } })),
    );
    assert.equal(tries.map((r) => r.status).sort(), [201, 409], `${mac}: one task made, one refused`);
    assert.match(JSON.stringify(tries.find((r) => r.status === 409)!.body), /already in a task that is not over/);
  }
});

T.run();
