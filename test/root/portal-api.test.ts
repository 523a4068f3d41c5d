/**
 * The portal's API as admins, scripts and PCs use it, against a real portal process on SQLite and
 * again on PostgreSQL (a fresh database on the machine's cluster, see postgres.ts), with a real
 * storage node holding a real captured image. Needs root for the source disk's loop devices and
 * for starting PostgreSQL.
 */
import { suite } from '../suite.js';
import * as assert from 'uvu/assert';
import { join } from 'node:path';
import { cleanup, makeDisk, workDir } from './fixtures.js';
import { shoalOk } from './cli.js';
import { killAll, startLabProcesses, stopLab, waitFor, type Lab } from './processes.js';
import { freshPostgres, type TestDatabase } from './postgres.js';
import { z } from 'zod';
import {
  ApprovedSchema,
  AuditListSchema,
  HostImportSchema,
  HostListSchema,
  HostSchema,
  HostTaskSchema,
  ImageListSchema,
  ImageSchema,
  NewTokenSchema,
  OpenApiSchema,
  ProgressReplySchema,
  PublishedSchema,
  ScheduleListSchema,
  ScheduleRunSchema,
  ScheduleSchema,
  SessionSchema,
  TaskHostLogSchema,
  TaskListSchema,
  TaskSchema,
} from '../../shared/http/portal-contract.js';
import { call, checked, DeployTaskSchema, expectError, login, progressReport, proofFromDisk } from './portal-http.js';

const ADMIN_PASSWORD = 'correct horse battery';

/** The parts of the OpenAPI document these tests read: every path's operations, their answers. */
const OpenApiDocSchema = OpenApiSchema.extend({
  paths: z.record(
    z.string(),
    z.record(
      z.string(),
      z.looseObject({
        description: z.string(),
        responses: z.record(
          z.string(),
          z.looseObject({ content: z.record(z.string(), z.looseObject({ schema: z.record(z.string(), z.unknown()) })).optional() }),
        ),
      }),
    ),
  ),
});
/** The JSON Schema of GET /hosts' answer, as far as the UI's host list reads it. */
const HostsAnswerSchema = z.looseObject({
  required: z.array(z.string()),
  properties: z.looseObject({
    hosts: z.looseObject({
      items: z.looseObject({
        required: z.array(z.string()),
        properties: z.looseObject({
          task: z.looseObject({
            anyOf: z.tuple([z.looseObject({ properties: z.looseObject({ state: z.looseObject({ enum: z.array(z.string()) }) }) })], z.unknown()),
          }),
        }),
      }),
    }),
  }),
});

let dir: string;
let store: string;
let source: string;

/** A PC saying done, and answering the portal's challenge from a disk that holds the image (the capture's source). */
async function finish(base: string, taskId: number, mac: string, key: string, progress: Record<string, unknown>): Promise<void> {
  const first = await call(base, 'POST', `/api/v1/tasks/${taskId}/hosts/${mac}/progress`, { as: key, body: progress, schema: ProgressReplySchema });
  assert.is(first.status, 200, JSON.stringify(first.body));
  assert.ok(first.body.challenge, 'done is not believed without a proof: the portal asks for one');
  const proof = await proofFromDisk(store, 'lab', source, first.body.challenge);
  const r = await call(base, 'POST', `/api/v1/tasks/${taskId}/hosts/${mac}/progress`, { as: key, body: { ...progress, proof } });
  assert.is(r.status, 200, JSON.stringify(r.body));
}
const setup = suite('portal api: setup');
setup('a captured image in a store', () => {
  dir = workDir();
  store = join(dir, 'store');
  const disk = makeDisk(dir, 'src.img', 48, 'gpt', [{ sizeMiB: 24, fs: 'ext4', name: 'root' }], 2);
  source = disk.path;
  shoalOk('capture', '--disk', disk.path, '--store', store, '--image', 'lab', '--type', 'multipart');
});
setup.run();

for (const backend of ['sqlite', 'postgresql'] as const) {
  const T = suite<{ lab: Lab; db?: TestDatabase; base: string; admin: string }>(`portal api on ${backend}`);

  T.before(async (ctx) => {
    ctx.db = backend === 'postgresql' ? freshPostgres() : undefined;
    ctx.lab = await startLabProcesses(join(dir, backend), [store], [], 1, { database: ctx.db?.url, adminPassword: ADMIN_PASSWORD });
    ctx.base = ctx.lab.portal.url;
    ctx.admin = await login(ctx.base, 'admin', ADMIN_PASSWORD);
  });
  T.after(async (ctx) => {
    await stopLab(ctx.lab);
    ctx.db?.drop();
  });

  T('login: an httpOnly SameSite=Strict session cookie; a wrong password is refused; logout ends it', async ({ base }) => {
    expectError(
      await call(base, 'POST', '/api/v1/session', { body: { username: 'admin', password: 'wrong password' } }),
      401,
      /wrong user name or password/,
      'wrong password',
    );
    const r = await call(base, 'POST', '/api/v1/session', { body: { username: 'admin', password: ADMIN_PASSWORD } });
    const cookie = r.headers.get('set-cookie')!;
    assert.match(cookie, /httponly/i);
    assert.match(cookie, /samesite=strict/i);
    const session = cookie.split(';')[0]!;
    assert.equal((await call(base, 'GET', '/api/v1/session', { as: session, schema: SessionSchema })).body, { user: { name: 'admin', role: 'admin' } });
    assert.is((await call(base, 'DELETE', '/api/v1/session', { as: session })).status, 204);
    expectError(await call(base, 'GET', '/api/v1/session', { as: session }), 401, /log in/, 'after logout');
    expectError(await call(base, 'GET', '/api/v1/hosts'), 401, /log in/, 'no credentials');
    expectError(await call(base, 'GET', '/api/v1/hosts', { as: 'shoal_forged' }), 401, /unknown or revoked API token/, 'forged token');
  });

  T(
    'roles: a read-only user reads and is refused every change; an image admin manages images, not hosts; tokens act as their user',
    async ({ base, admin }) => {
      for (const [name, role] of [
        ['viewer', 'readonly'],
        ['imager', 'image-admin'],
      ]) {
        assert.is((await call(base, 'POST', '/api/v1/users', { as: admin, body: { name, password: 'a long password', role } })).status, 201);
      }
      expectError(
        await call(base, 'POST', '/api/v1/users', { as: admin, body: { name: 'viewer', password: 'a long password', role: 'readonly' } }),
        409,
        /exists/,
        'duplicate user',
      );
      expectError(
        await call(base, 'POST', '/api/v1/users', { as: admin, body: { name: 'x', password: 'short', role: 'readonly' } }),
        400,
        /password: at least 8/,
        'short password',
      );
      const viewer = await login(base, 'viewer', 'a long password');
      assert.is((await call(base, 'GET', '/api/v1/hosts', { as: viewer })).status, 200);
      assert.is((await call(base, 'GET', '/api/v1/images', { as: viewer })).status, 200);
      const changes: Array<[string, string, unknown]> = [
        ['POST', '/api/v1/groups', { name: 'Room 9' }],
        ['POST', '/api/v1/hosts', { mac: '52:54:00:09:00:01' }],
        ['POST', '/api/v1/images', { name: 'x', imageType: 'raw' }],
        ['POST', '/api/v1/tasks', { kind: 'deploy', image: 'lab', hosts: ['52:54:00:09:00:01'] }],
        ['DELETE', '/api/v1/images/lab', undefined],
        ['POST', '/api/v1/users', { name: 'y', password: 'a long password', role: 'admin' }],
      ];
      for (const [method, path, body] of changes)
        expectError(await call(base, method, path, { as: viewer, body }), 403, /viewer is read-only/, `${method} ${path} as read-only`);
      const imager = await login(base, 'imager', 'a long password');
      assert.is(
        (await call(base, 'POST', '/api/v1/images', { as: imager, body: { name: 'ubuntu', imageType: 'resizable', osType: 'linux', tags: ['lab'] } })).status,
        201,
      );
      expectError(await call(base, 'POST', '/api/v1/groups', { as: imager, body: { name: 'Room 9' } }), 403, /needs an admin/, 'image admin makes a group');
      // An API token acts as its user, and is refused once revoked.
      const made = await call(base, 'POST', '/api/v1/tokens', { as: viewer, body: { label: 'script' }, schema: NewTokenSchema });
      assert.is(made.status, 201);
      expectError(await call(base, 'POST', '/api/v1/groups', { as: made.body.token, body: { name: 'Room 9' } }), 403, /viewer is read-only/, 'read-only token');
      assert.is((await call(base, 'DELETE', `/api/v1/tokens/${made.body.id}`, { as: viewer })).status, 204);
      expectError(await call(base, 'GET', '/api/v1/hosts', { as: made.body.token }), 401, /revoked/, 'revoked token');
      expectError(await call(base, 'DELETE', '/api/v1/users/admin', { as: admin }), 409, /last admin/, 'removing the last admin');
    },
  );

  T('hosts and groups: bad input gets a clear 4xx and leaves nothing behind', async ({ base, admin }) => {
    assert.is((await call(base, 'POST', '/api/v1/groups', { as: admin, body: { name: 'Room 101', description: 'first floor' } })).status, 201);
    const pc = await call(base, 'POST', '/api/v1/hosts', {
      as: admin,
      body: { mac: '52-54-00-AA-00-01', name: 'pc01', group: 'Room 101' },
      schema: HostSchema,
    });
    assert.is(pc.status, 201);
    assert.is(pc.body.mac, '52:54:00:aa:00:01', 'MACs are kept lower case with colons');
    const auditBefore = (await call(base, 'GET', '/api/v1/audit', { as: admin, schema: AuditListSchema })).body.entries.length;
    const hostsBefore = (await call(base, 'GET', '/api/v1/hosts', { as: admin, schema: HostListSchema })).body.hosts.length;
    expectError(await call(base, 'POST', '/api/v1/hosts', { as: admin, body: { mac: '52:54:00:aa:00:01' } }), 409, /exists/, 'duplicate MAC');
    expectError(await call(base, 'POST', '/api/v1/hosts', { as: admin, body: { mac: '52:54:00:aa:00' } }), 400, /mac: a MAC address/, 'malformed MAC');
    expectError(
      await call(base, 'POST', '/api/v1/hosts', { as: admin, body: { mac: '52:54:00:aa:00:02', group: 'Room 404' } }),
      400,
      /unknown group Room 404/,
      'unknown group',
    );
    expectError(
      await call(base, 'POST', '/api/v1/hosts', { as: admin, body: { mac: '52:54:00:aa:00:02', image: 'nope' } }),
      400,
      /unknown image nope/,
      'unknown image',
    );
    expectError(
      await call(base, 'POST', '/api/v1/hosts', { as: admin, body: { mac: '52:54:00:aa:00:02', name: 'pc01' } }),
      409,
      /taken by 52:54:00:aa:00:01/,
      'duplicate name',
    );
    expectError(
      await call(base, 'POST', '/api/v1/hosts', { as: admin, body: { mac: '52:54:00:aa:00:02', colour: 'red' } }),
      400,
      /colour|unrecognized/i,
      'unknown field',
    );
    expectError(await call(base, 'POST', '/api/v1/groups', { as: admin, body: { name: 'x'.repeat(2_000_000) } }), 413, /too large/i, 'oversized body');
    expectError(await call(base, 'DELETE', '/api/v1/groups/Room%20101', { as: admin }), 409, /still has 1 host/, 'deleting a group with hosts');
    assert.is((await call(base, 'GET', '/api/v1/hosts', { as: admin, schema: HostListSchema })).body.hosts.length, hostsBefore, 'no host was added');
    assert.is(
      (await call(base, 'GET', '/api/v1/audit', { as: admin, schema: AuditListSchema })).body.entries.length,
      auditBefore,
      'refused changes are not in the audit log',
    );
    // Search by name or MAC, filter by group.
    assert.equal(
      (await call(base, 'GET', '/api/v1/hosts?search=PC0', { as: admin, schema: HostListSchema })).body.hosts.map((h) => h.mac),
      ['52:54:00:aa:00:01'],
    );
    assert.equal(
      (await call(base, 'GET', '/api/v1/hosts?search=aa:00:01', { as: admin, schema: HostListSchema })).body.hosts.map((h) => h.name),
      ['pc01'],
    );
    assert.equal((await call(base, 'GET', '/api/v1/hosts?group=Room%20101', { as: admin, schema: HostListSchema })).body.hosts.length, 1);
    const audit = (await call(base, 'GET', '/api/v1/audit', { as: admin, schema: AuditListSchema })).body.entries;
    assert.ok(
      audit.some((e) => e.actor === 'admin' && e.action === 'host.create' && e.target === '52:54:00:aa:00:01'),
      'the audit log names who added the host',
    );
  });

  T('CSV: export and import round trip; one bad line refuses the whole file', async ({ base, admin }) => {
    const csv = ['mac,name,group', ...Array.from({ length: 30 }, (_, i) => `52:54:00:bb:00:${i.toString(16).padStart(2, '0')},lab-${i},Room 101`)].join('\n');
    const r = await call(base, 'POST', '/api/v1/hosts/import', { as: admin, csv, schema: HostImportSchema });
    assert.equal(r.body, { created: 30, updated: 0 });
    // Names as people read them, the same on both databases: lab-9 before lab-10, and "-" before "_" byte by byte.
    const sorted = (await call(base, 'GET', '/api/v1/hosts?search=lab-&sort=name&limit=12', { as: admin, schema: HostListSchema })).body.hosts.map(
      (h) => h.name,
    );
    assert.equal(
      sorted,
      Array.from({ length: 12 }, (_, i) => `lab-${i}`),
      "lab-0 … lab-11 in their numbers' order",
    );
    const punct = `mac,name\n52:54:00:bb:01:01,q_1\n52:54:00:bb:01:02,q-2\n`;
    assert.equal((await call(base, 'POST', '/api/v1/hosts/import', { as: admin, csv: punct, schema: HostImportSchema })).body, { created: 2, updated: 0 });
    const byBytes = (await call(base, 'GET', '/api/v1/hosts?search=q&sort=name', { as: admin, schema: HostListSchema })).body.hosts.map((h) => h.name);
    assert.equal(
      byBytes.filter((n) => n?.startsWith('q')),
      ['q-2', 'q_1'],
      "compared byte by byte, not by the database's language",
    );
    for (const m of ['52:54:00:bb:01:01', '52:54:00:bb:01:02']) assert.is((await call(base, 'DELETE', `/api/v1/hosts/${m}`, { as: admin })).status, 204);
    const before = (await call(base, 'GET', '/api/v1/hosts', { as: admin, schema: HostListSchema })).body.hosts.length;
    const bad = `mac,name,group\n52:54:00:cc:00:01,new-1,Room 101\n52:54:00:cc:00:02,new-2,Room 999\n`;
    expectError(await call(base, 'POST', '/api/v1/hosts/import', { as: admin, csv: bad }), 400, /line 3: unknown group Room 999/, 'unknown group on line 3');
    expectError(await call(base, 'POST', '/api/v1/hosts/import', { as: admin, csv: 'mac,name\nnot-a-mac,x\n' }), 400, /line 2: mac/, 'malformed MAC');
    expectError(
      await call(base, 'POST', '/api/v1/hosts/import', { as: admin, csv: 'mac,room\n52:54:00:cc:00:01,1\n' }),
      400,
      /unknown column room/,
      'unknown column',
    );
    expectError(
      await call(base, 'POST', '/api/v1/hosts/import', { as: admin, csv: 'mac\n52:54:00:cc:00:01\n52:54:00:CC:00:01\n' }),
      400,
      /line 3: 52:54:00:cc:00:01 is also on line 2/,
      'MAC twice',
    );
    assert.is(
      (await call(base, 'GET', '/api/v1/hosts', { as: admin, schema: HostListSchema })).body.hosts.length,
      before,
      'nothing of a refused file was kept',
    );
    const exported = await call(base, 'GET', '/api/v1/hosts.csv', { as: admin });
    assert.match(exported.headers.get('content-type')!, /text\/csv/);
    assert.match(exported.text, /^mac,name,disk,group,image\n/);
    assert.match(exported.text, /52:54:00:bb:00:1d,lab-29,,Room 101,\n/);
    // Importing the export again changes nothing but counts every host as updated.
    assert.equal((await call(base, 'POST', '/api/v1/hosts/import', { as: admin, csv: exported.text, schema: HostImportSchema })).body, {
      created: 0,
      updated: before,
    });
  });

  T('images: a pending or retired image is not deployed; one in use cannot be deleted, only retired', async ({ base, admin }) => {
    const images = (await call(base, 'GET', '/api/v1/images', { as: admin, schema: ImageListSchema })).body.images;
    const lab = images.find((i) => i.name === 'lab')!;
    assert.is(lab.status, 'ok');
    assert.is(lab.imageType, 'multipart');
    assert.ok((lab.sizeBytes ?? 0) > 0 && lab.minDiskBytes === 48 * 1024 * 1024, `sizes ${lab.sizeBytes} ${lab.minDiskBytes}`);
    assert.is(lab.versions[0]!.nodes.length, 1);
    assert.is(
      (await call(base, 'POST', '/api/v1/images', { as: admin, body: { name: 'win11', imageType: 'resizable', description: 'Windows 11 23H2' } })).status,
      201,
    );
    expectError(await call(base, 'POST', '/api/v1/images', { as: admin, body: { name: '../etc', imageType: 'raw' } }), 400, /name/, 'a name with ..');
    expectError(
      await call(base, 'POST', '/api/v1/tasks', { as: admin, body: { kind: 'deploy', image: 'win11', hosts: ['52:54:00:aa:00:01'] } }),
      409,
      /no published version yet \(status pending\)/,
      'deploying a pending image',
    );
    expectError(
      await call(base, 'POST', '/api/v1/tasks', { as: admin, body: { kind: 'deploy', image: 'nope', hosts: ['52:54:00:aa:00:01'] } }),
      404,
      /image nope not found/,
      'deploying an unknown image',
    );
    assert.is((await call(base, 'PATCH', '/api/v1/hosts/52:54:00:aa:00:01', { as: admin, body: { image: 'lab' } })).status, 200);
    expectError(
      await call(base, 'DELETE', '/api/v1/images/lab', { as: admin }),
      409,
      /cannot be deleted: host \S+ is assigned to it\. First give those hosts another image, or retire the image instead/,
      'deleting an image in use',
    );
    const marked = await call(base, 'PATCH', '/api/v1/images/lab', { as: admin, body: { access: 'retired' }, schema: ImageSchema });
    assert.is(marked.body.access, 'retired');
    expectError(
      await call(base, 'POST', '/api/v1/tasks', { as: admin, body: { kind: 'deploy', image: 'lab', hosts: ['52:54:00:aa:00:01'] } }),
      409,
      /image lab is retired/,
      'deploying a retired image',
    );
    const published = (await call(base, 'GET', '/api/v1/swarm/published', { schema: PublishedSchema })).body;
    // Retired, not deleted: its files stay, and a task already under way with it goes on.
    assert.is(published.infoHashes.length, 1, 'the trackers still admit a retired image');
    assert.is((await call(base, 'PATCH', '/api/v1/images/lab', { as: admin, body: { access: 'public' } })).status, 200);
    assert.is((await call(base, 'DELETE', '/api/v1/images/win11', { as: admin })).status, 204, 'an image nobody uses is deleted');
  });

  T('tasks: a deploy for a group, scheduled tasks, the per-host states and log, keys that fit one host only', async ({ base, admin }) => {
    assert.is((await call(base, 'POST', '/api/v1/groups', { as: admin, body: { name: 'Room 202' } })).status, 201);
    const macs = ['52:54:00:dd:00:01', '52:54:00:dd:00:02', '52:54:00:dd:00:03'];
    for (const mac of macs) assert.is((await call(base, 'POST', '/api/v1/hosts', { as: admin, body: { mac, group: 'Room 202' } })).status, 201);
    expectError(
      await call(base, 'POST', '/api/v1/tasks', { as: admin, body: { kind: 'deploy', image: 'lab', group: 'Room 404' } }),
      400,
      /unknown group Room 404/,
      'a task for an unknown group',
    );
    expectError(
      await call(base, 'POST', '/api/v1/tasks', { as: admin, body: { kind: 'deploy', image: 'lab' } }),
      400,
      /either hosts .* or group/,
      'a task for nobody',
    );
    const task = (
      await call(base, 'POST', '/api/v1/tasks', { as: admin, body: { kind: 'deploy', image: 'lab', group: 'Room 202', lingerSeconds: 5 }, schema: TaskSchema })
    ).body;
    assert.is(task.hosts.length, 3);
    assert.equal(task.counts.queued, 3);
    expectError(
      await call(base, 'POST', '/api/v1/tasks', { as: admin, body: { kind: 'deploy', image: 'lab', hosts: [macs[0]] } }),
      409,
      /already in a task that is not over: 52:54:00:dd:00:01/,
      'a host in two tasks',
    );
    // The PC asks: booting, with its own key.
    const mine = (await call(base, 'GET', `/api/v1/hosts/${macs[0]}/task`, { schema: DeployTaskSchema })).body;
    const theirs = (await call(base, 'GET', `/api/v1/hosts/${macs[1]}/task`, { schema: DeployTaskSchema })).body;
    assert.is(mine.kind, 'deploy');
    assert.equal(mine.share, { index: 0, count: 3 });
    const progress = {
      state: 'running',
      piecesDone: 1,
      piecesTotal: 10,
      bytesDone: 1,
      bytesTotal: 10,
      downloadBytesPerSec: 5,
      uploadBytesPerSec: 0,
      downloadedBytes: 1,
      uploadedBytes: 0,
      peers: 2,
    };
    expectError(
      await call(base, 'POST', `/api/v1/tasks/${task.id}/hosts/${macs[0]}/progress`, { as: theirs.key, body: progress }),
      403,
      /key the portal gave host 52:54:00:dd:00:01/,
      "another host's key",
    );
    expectError(await call(base, 'POST', `/api/v1/tasks/${task.id}/hosts/${macs[0]}/progress`, { body: progress }), 403, /key/, 'no key');
    assert.equal(
      (await call(base, 'POST', `/api/v1/tasks/${task.id}/hosts/${macs[0]}/progress`, { as: mine.key, body: progress, schema: ProgressReplySchema })).body,
      {
        groupDone: false,
        start: true,
      },
    );
    assert.is(
      (
        await call(base, 'POST', `/api/v1/tasks/${task.id}/hosts/${macs[1]}/progress`, {
          as: theirs.key,
          body: { ...progress, state: 'failed', error: 'disk /dev/sda is too small' },
        })
      ).status,
      200,
    );
    let t = (await call(base, 'GET', `/api/v1/tasks/${task.id}`, { as: admin, schema: TaskSchema })).body;
    assert.equal(
      t.hosts.map((h) => h.state),
      ['running', 'failed', 'queued'],
    );
    assert.is(t.hosts[1]!.error, 'disk /dev/sda is too small');
    assert.equal({ ...t.counts }, { queued: 1, booting: 0, waiting: 0, running: 1, seeding: 0, done: 0, failed: 1, cancelled: 0 });
    assert.equal(
      (await call(base, 'GET', `/api/v1/tasks/${task.id}/hosts/${macs[1]}/log`, { as: admin, schema: TaskHostLogSchema })).body.entries.map((e) => e.message),
      ['the portal sends no Wake-on-LAN packets (--no-wake): not woken', 'booting: asked for its task', 'failed: disk /dev/sda is too small'],
    );
    expectError(
      await call(base, 'POST', `/api/v1/tasks/${task.id}/hosts/${macs[1]}/progress`, { as: theirs.key, body: progress }),
      409,
      /already reported failed/,
      'a report after failing',
    );
    assert.match(
      (await call(base, 'GET', `/api/v1/hosts?state=failed`, { as: admin, schema: HostListSchema })).body.hosts.map((h) => h.mac).join(),
      /52:54:00:dd:00:02/,
    );
    // Cancelled: the open hosts are cancelled and the PCs still in it hear the group is done.
    t = (await call(base, 'POST', `/api/v1/tasks/${task.id}/cancel`, { as: admin, schema: TaskSchema })).body;
    assert.equal(
      t.hosts.map((h) => h.state),
      ['cancelled', 'failed', 'cancelled'],
    );
    assert.equal(
      (await call(base, 'POST', `/api/v1/tasks/${task.id}/hosts/${macs[0]}/progress`, { as: mine.key, body: progress, schema: ProgressReplySchema })).body,
      {
        groupDone: true,
        start: false,
        cancelled: true,
      },
    );
    // A start time long gone is refused (a typed year, not "now"), and nothing is made of it.
    const tasksBefore = (await call(base, 'GET', '/api/v1/tasks', { as: admin, schema: TaskListSchema })).body.tasks.length;
    expectError(
      await call(base, 'POST', '/api/v1/tasks', { as: admin, body: { kind: 'deploy', image: 'lab', hosts: [macs[2]], scheduledAt: '2020-03-01T08:00:00Z' } }),
      400,
      /scheduledAt 2020-03-01T08:00:00Z is in the past/,
      'a start time in 2020',
    );
    assert.is((await call(base, 'GET', '/api/v1/tasks', { as: admin, schema: TaskListSchema })).body.tasks.length, tasksBefore, 'no task made');
    // Scheduled: nothing for the PC until its time, then the task.
    const at = new Date(Date.now() + 2_500).toISOString();
    const later = (
      await call(base, 'POST', '/api/v1/tasks', { as: admin, body: { kind: 'deploy', image: 'lab', hosts: [macs[2]], scheduledAt: at }, schema: TaskSchema })
    ).body;
    assert.is(later.state, 'scheduled');
    assert.equal((await call(base, 'GET', `/api/v1/hosts/${macs[2]}/task`, { schema: HostTaskSchema })).body, { kind: 'none' });
    await waitFor('the scheduled task to start', 10_000, async () =>
      (await call(base, 'GET', `/api/v1/hosts/${macs[2]}/task`, { schema: HostTaskSchema })).body.kind === 'deploy' ? true : undefined,
    );
    assert.is((await call(base, 'GET', `/api/v1/tasks/${later.id}`, { as: admin, schema: TaskSchema })).body.state, 'active');
    await call(base, 'POST', `/api/v1/tasks/${later.id}/cancel`, { as: admin });
  });

  T('retry: the failed hosts of a task queued again with fresh keys, the task active again; only failed hosts, clear refusals', async ({ base, admin }) => {
    const macs = ['52:54:00:de:00:01', '52:54:00:de:00:02'];
    const task = (
      await call(base, 'POST', '/api/v1/tasks', { as: admin, body: { kind: 'deploy', image: 'lab', hosts: macs, wake: false }, schema: TaskSchema })
    ).body;
    assert.is(task.wakePerSecond, null);
    const progress = {
      state: 'done',
      piecesDone: 10,
      piecesTotal: 10,
      bytesDone: 10,
      bytesTotal: 10,
      downloadBytesPerSec: 0,
      uploadBytesPerSec: 0,
      downloadedBytes: 10,
      uploadedBytes: 0,
      peers: 0,
    };
    const a = (await call(base, 'GET', `/api/v1/hosts/${macs[0]}/task`, { schema: DeployTaskSchema })).body;
    const b = (await call(base, 'GET', `/api/v1/hosts/${macs[1]}/task`, { schema: DeployTaskSchema })).body;
    expectError(await call(base, 'POST', `/api/v1/tasks/${task.id}/retry`, { as: admin }), 409, /has no failed hosts/, 'nothing failed yet');
    await call(base, 'POST', `/api/v1/tasks/${task.id}/hosts/${macs[0]}/progress`, {
      as: a.key,
      body: { ...progress, state: 'failed', error: 'cable unplugged' },
    });
    await finish(base, task.id, macs[1]!, b.key, progress);
    assert.is((await call(base, 'GET', `/api/v1/tasks/${task.id}`, { as: admin, schema: TaskSchema })).body.state, 'done');
    expectError(
      await call(base, 'POST', `/api/v1/tasks/${task.id}/retry`, { as: admin, body: { hosts: [macs[1]] } }),
      409,
      /not failed in task .*52:54:00:de:00:02/,
      'a host that is done',
    );
    const t = (await call(base, 'POST', `/api/v1/tasks/${task.id}/retry`, { as: admin, schema: TaskSchema })).body;
    assert.is(t.state, 'active');
    assert.equal(
      t.hosts.map((h) => [h.mac, h.state, h.error]),
      [
        [macs[0], 'queued', null],
        [macs[1], 'done', null],
      ],
    );
    const again = (await call(base, 'GET', `/api/v1/hosts/${macs[0]}/task`, { schema: DeployTaskSchema })).body;
    assert.is(again.kind, 'deploy');
    assert.is.not(again.key, a.key, 'a fresh key');
    expectError(
      await call(base, 'POST', `/api/v1/tasks/${task.id}/hosts/${macs[0]}/progress`, { as: a.key, body: progress }),
      403,
      /key/,
      'the old key no longer reports',
    );
    await finish(base, task.id, macs[0]!, again.key, progress);
    assert.is((await call(base, 'GET', `/api/v1/tasks/${task.id}`, { as: admin, schema: TaskSchema })).body.state, 'done');
    const log = (await call(base, 'GET', `/api/v1/tasks/${task.id}/hosts/${macs[0]}/log`, { as: admin, schema: TaskHostLogSchema })).body.entries.map(
      (e) => e.message,
    );
    assert.ok(log.includes('retried by admin'), log.join(' | '));
    const cancelled = (
      await call(base, 'POST', '/api/v1/tasks', { as: admin, body: { kind: 'deploy', image: 'lab', hosts: [macs[0]], wake: false }, schema: TaskSchema })
    ).body;
    await call(base, 'POST', `/api/v1/tasks/${cancelled.id}/cancel`, { as: admin });
    expectError(await call(base, 'POST', `/api/v1/tasks/${cancelled.id}/retry`, { as: admin }), 409, /is cancelled/, 'a cancelled task');
  });

  T(
    'schedules: a task made at the times a cron expression names, in its time zone; a run whose hosts are busy is skipped and says why',
    async ({ base, admin }) => {
      assert.is((await call(base, 'POST', '/api/v1/groups', { as: admin, body: { name: 'Room 303' } })).status, 201);
      const mac = '52:54:00:df:00:01';
      assert.is((await call(base, 'POST', '/api/v1/hosts', { as: admin, body: { mac, group: 'Room 303' } })).status, 201);
      const task = { kind: 'deploy', image: 'lab', group: 'Room 303', wake: false };
      expectError(
        await call(base, 'POST', '/api/v1/schedules', { as: admin, body: { name: 'bad', cron: '30 2 * *', task } }),
        400,
        /five fields/,
        'a cron of four fields',
      );
      expectError(
        await call(base, 'POST', '/api/v1/schedules', { as: admin, body: { name: 'bad', cron: '30 25 * * *', task } }),
        400,
        /cron "30 25/,
        'an hour past 23',
      );
      expectError(
        await call(base, 'POST', '/api/v1/schedules', { as: admin, body: { name: 'bad', cron: '30 2 * * *', timezone: 'Mars/Olympus', task } }),
        400,
        /IANA time zone/,
        'an unknown time zone',
      );
      expectError(
        await call(base, 'POST', '/api/v1/schedules', {
          as: admin,
          body: { name: 'bad', cron: '30 2 * * *', task: { ...task, scheduledAt: new Date().toISOString() } },
        }),
        400,
        /no scheduledAt/,
        'a template with its own time',
      );
      const made = await call(base, 'POST', '/api/v1/schedules', {
        as: admin,
        body: { name: 'nightly 303', cron: '30 2 * * *', timezone: 'Europe/Berlin', task },
        schema: ScheduleSchema,
      });
      assert.is(made.status, 201, JSON.stringify(made.body));
      const s = made.body;
      // 02:30 in Berlin is 01:30 or 00:30 UTC (winter, summer): the next one after now.
      assert.match(s.nextRunAt ?? '', /T0[01]:30:00\.000Z$/);
      assert.ok(Date.parse(s.nextRunAt!) > Date.now() && Date.parse(s.nextRunAt!) <= Date.now() + 86_400_000);
      expectError(
        await call(base, 'POST', '/api/v1/schedules', { as: admin, body: { name: 'nightly 303', cron: '0 3 * * *', task } }),
        409,
        /exists/,
        'a second schedule of one name',
      );
      // Run now: an ordinary task, marked as the schedule's.
      const ran = (await call(base, 'POST', `/api/v1/schedules/${s.id}/run`, { as: admin, schema: ScheduleRunSchema })).body;
      const t = (await call(base, 'GET', `/api/v1/tasks/${ran.taskId}`, { as: admin, schema: TaskSchema })).body;
      assert.is(t.scheduleId, s.id);
      assert.equal(
        t.hosts.map((h) => h.mac),
        [mac],
      );
      assert.is(ran.nextRunAt, s.nextRunAt, 'running now leaves the next run as it was');
      // Again while that task holds the host: no second task, and the schedule says why.
      expectError(
        await call(base, 'POST', `/api/v1/schedules/${s.id}/run`, { as: admin }),
        409,
        /already in a task that is not over/,
        'a run whose hosts are busy',
      );
      assert.match(
        (await call(base, 'GET', '/api/v1/schedules', { as: admin, schema: ScheduleListSchema })).body.schedules.find((x) => x.id === s.id)!.lastError ?? '',
        /already in a task/,
      );
      await call(base, 'POST', `/api/v1/tasks/${ran.taskId}/cancel`, { as: admin });
      // Due: every 2 seconds (six fields), the portal's scheduler makes the task by itself.
      assert.is((await call(base, 'PATCH', `/api/v1/schedules/${s.id}`, { as: admin, body: { cron: '*/2 * * * * *' } })).status, 200);
      const byItself = await waitFor('the schedule to run by itself', 15_000, async () => {
        const x = (await call(base, 'GET', '/api/v1/schedules', { as: admin, schema: ScheduleListSchema })).body.schedules.find((y) => y.id === s.id)!;
        return x.lastTaskId !== ran.taskId && x.lastTaskId ? x : undefined;
      });
      assert.is(byItself.lastError, null);
      const off = (await call(base, 'PATCH', `/api/v1/schedules/${s.id}`, { as: admin, body: { enabled: false }, schema: ScheduleSchema })).body;
      assert.is(off.enabled, false);
      assert.is(off.nextRunAt, null);
      await call(base, 'POST', `/api/v1/tasks/${byItself.lastTaskId}/cancel`, { as: admin });
      expectError(
        await call(base, 'POST', '/api/v1/schedules', { as: 'shoal_session=nobody', body: { name: 'x', cron: '* * * * *', task } }),
        401,
        /./,
        'no session',
      );
      assert.is((await call(base, 'DELETE', `/api/v1/schedules/${s.id}`, { as: admin })).status, 204);
      assert.is((await call(base, 'GET', `/api/v1/tasks/${byItself.lastTaskId}`, { as: admin })).status, 200, 'its tasks stay');
    },
  );

  T('start together: PCs wait until minReceivers are ready, or maxWaitSeconds after the first; bad gates refused', async ({ base, admin }) => {
    const macs = ['52:54:00:dc:00:01', '52:54:00:dc:00:02', '52:54:00:dc:00:03'];
    expectError(
      await call(base, 'POST', '/api/v1/tasks', { as: admin, body: { kind: 'deploy', image: 'lab', hosts: macs, minReceivers: 4 } }),
      400,
      /minReceivers 4 is more than the 3 PC\(s\) of this task/,
      'waiting for more PCs than the task has',
    );
    expectError(
      await call(base, 'POST', '/api/v1/tasks', { as: admin, body: { kind: 'deploy', image: 'lab', hosts: macs, maxWaitSeconds: 30 } }),
      400,
      /needs minReceivers/,
      'a wait without a count',
    );
    expectError(
      await call(base, 'POST', '/api/v1/tasks', { as: admin, body: { kind: 'capture', image: 'lab', hosts: [macs[0]], minReceivers: 1 } }),
      400,
      /not a capture/,
      'a capture that waits',
    );
    const task = (
      await call(base, 'POST', '/api/v1/tasks', {
        as: admin,
        body: { kind: 'deploy', image: 'lab', hosts: macs, minReceivers: 2, lingerSeconds: 0 },
        schema: TaskSchema,
      })
    ).body;
    assert.is(task.minReceivers, 2);
    assert.is(task.startedAt, undefined);
    const keys: string[] = [];
    for (const mac of macs) {
      const mine = (await call(base, 'GET', `/api/v1/hosts/${mac}/task`, { schema: DeployTaskSchema })).body;
      assert.equal(mine.startTogether, { minReceivers: 2, maxWaitSeconds: 300 }, 'the PC learns it waits, and how long at most');
      keys.push(mine.key);
    }
    const waiting = progressReport('waiting');
    const report = async (i: number, body: object = waiting) =>
      (await call(base, 'POST', `/api/v1/tasks/${task.id}/hosts/${macs[i]}/progress`, { as: keys[i], body, schema: ProgressReplySchema })).body;
    assert.equal(await report(0), { groupDone: false, start: false }, 'one of two ready: wait');
    assert.equal(await report(0), { groupDone: false, start: false }, 'still one');
    let t = (await call(base, 'GET', `/api/v1/tasks/${task.id}`, { as: admin, schema: TaskSchema })).body;
    assert.equal(
      t.hosts.map((h) => h.state),
      ['waiting', 'booting', 'booting'],
    );
    assert.equal(await report(1), { groupDone: false, start: true }, 'two ready: go');
    assert.equal(await report(0), { groupDone: false, start: true }, 'the first learns it on its next report');
    t = (await call(base, 'GET', `/api/v1/tasks/${task.id}`, { as: admin, schema: TaskSchema })).body;
    assert.type(t.startedAt, 'string', 'the task says when it started');
    assert.is(
      (await call(base, 'GET', `/api/v1/hosts/${macs[2]}/task`, { schema: DeployTaskSchema })).body.startTogether,
      undefined,
      'a PC coming after the start does not wait',
    );
    assert.equal(await report(2), { groupDone: false, start: true }, 'nor is it held');
    await call(base, 'POST', `/api/v1/tasks/${task.id}/cancel`, { as: admin });

    // Out of time: two of three never come, and the one that did starts after maxWaitSeconds.
    const timed = (
      await call(base, 'POST', '/api/v1/tasks', {
        as: admin,
        body: { kind: 'deploy', image: 'lab', hosts: macs, minReceivers: 3, maxWaitSeconds: 2, lingerSeconds: 0 },
        schema: TaskSchema,
      })
    ).body;
    const key = (await call(base, 'GET', `/api/v1/hosts/${macs[0]}/task`, { schema: DeployTaskSchema })).body.key;
    const first = Date.now();
    const lone = async () =>
      (await call(base, 'POST', `/api/v1/tasks/${timed.id}/hosts/${macs[0]}/progress`, { as: key, body: waiting, schema: ProgressReplySchema })).body;
    assert.equal(await lone(), { groupDone: false, start: false });
    await waitFor('the wait to run out', 10_000, async () => ((await lone()).start ? true : undefined));
    assert.ok(Date.now() - first >= 1_900, `started after ${Date.now() - first} ms, not before the 2 s wait`);
    await call(base, 'POST', `/api/v1/tasks/${timed.id}/cancel`, { as: admin });
  });

  T("iPXE: the registration menu for an unknown MAC, the client with the host's key when a task waits, the local disk otherwise", async ({ base, admin }) => {
    const mac = '52:54:00:ee:00:01';
    const unknown = await call(base, 'GET', `/boot/ipxe?mac=${mac}`);
    assert.is(unknown.status, 200);
    assert.match(unknown.headers.get('content-type')!, /text\/plain/);
    assert.match(unknown.text, /^#!ipxe\nmenu Shoal: this PC \(52:54:00:ee:00:01\) is not registered/);
    assert.match(unknown.text, /item quick .*\nitem full .*\nitem local /);
    assert.match(unknown.text, /choose --default local --timeout 30000/);
    assert.not.match(unknown.text, /kernel/);
    expectError(await call(base, 'GET', '/boot/ipxe?mac=nonsense'), 400, /mac/, 'a malformed MAC');
    assert.match((await call(base, 'GET', '/boot/ipxe')).text, /chain .*\/boot\/ipxe\?mac=\$\{net0\/mac\}/, 'without a MAC: iPXE is asked to say it');
    // Full registration typed at the prompt: a bad group is said on screen, nothing is registered.
    const bad = await call(base, 'GET', `/boot/ipxe/register?mac=${mac}&name=pc-ee&group=Nowhere&image=`);
    assert.match(bad.text, /^#!ipxe\necho Shoal: not registered: unknown group Nowhere/);
    // Whatever is typed is echoed back as plain text: nothing of it runs at the iPXE prompt.
    const sneaky = await call(base, 'GET', `/boot/ipxe/register?mac=52:54:00:ee:00:09&name=${encodeURIComponent('x || shell ${net0/ip}')}&group=&image=`);
    assert.match(sneaky.text, /^#!ipxe\necho Shoal: not registered: name: a host name: letters, digits and \. _ - \(at most 63\)\nsleep 5\nchain /);
    assert.not.match(sneaky.text, /shell|\$\{net0\/ip/, 'nothing typed comes back to run');
    assert.match((await call(base, 'GET', `/boot/ipxe?mac=${mac}`)).text, /menu Shoal/, 'still unknown');
    assert.match(
      (await call(base, 'GET', `/boot/ipxe/register?mac=${mac}&name=pc-ee&group=&image=lab`)).text,
      /echo Shoal: registered pc-ee: it waits for an admin.s approval\nchain /,
    );
    const h = (await call(base, 'GET', '/api/v1/hosts?search=pc-ee', { as: admin, schema: HostListSchema })).body.hosts[0]!;
    assert.equal([h.mac, h.name, h.group, h.image, h.pending], [mac, 'pc-ee', null, 'lab', true]);
    assert.match((await call(base, 'GET', `/boot/ipxe?mac=${mac}`)).text, /waits for an admin.s approval/, 'waiting: its disk');
    assert.equal((await call(base, 'POST', '/api/v1/hosts/approve', { as: admin, body: { hosts: [mac] }, schema: ApprovedSchema })).body.approved, [mac]);
    const idle = await call(base, 'GET', `/boot/ipxe?mac=${mac}`);
    assert.match(idle.text, /^#!ipxe\necho Shoal: nothing to do for this PC, booting from its disk\n/);
    assert.match(idle.text, /sanboot --no-describe --drive 0x80/);
    assert.not.match(idle.text, /kernel|menu/);

    const other = '52:54:00:ee:00:02';
    const task = (
      await call(base, 'POST', '/api/v1/tasks', {
        as: admin,
        body: { kind: 'deploy', image: 'lab', hosts: [mac, other], finish: 'poweroff' },
        schema: TaskSchema,
      })
    ).body;
    const boot = await call(base, 'GET', `/boot/ipxe?mac=${mac.toUpperCase()}`);
    assert.match(boot.text, /^#!ipxe\n/);
    assert.match(
      boot.text,
      new RegExp(
        `kernel ${base}/boot/shoal/vmlinuz initrd=initrd.img shoal\\.portal=${base} shoal\\.mac=${mac} shoal\\.key=\\S+ shoal\\.task=${task.id} shoal\\.after=poweroff `,
      ),
    );
    assert.match(boot.text, /initrd .*initrd\.img\nboot/);
    assert.is((await call(base, 'GET', `/api/v1/tasks/${task.id}`, { as: admin, schema: TaskSchema })).body.hosts.find((x) => x.mac === mac)!.state, 'booting');
    // The key on the command line opens this MAC's task and nothing else.
    const key = /shoal\.key=(\S+)/.exec(boot.text)![1]!;
    const own = await call(base, 'GET', `/api/v1/hosts/${mac}/task`, { as: key, schema: DeployTaskSchema });
    assert.is(own.status, 200);
    assert.equal([own.body.kind, own.body.taskId], ['deploy', task.id]);
    expectError(await call(base, 'GET', `/api/v1/hosts/${other}/task`, { as: key }), 403, /issued to another PC/, 'a key presented for another MAC');
    expectError(await call(base, 'GET', `/api/v1/hosts/${mac}/task`, { as: 'shoal-made-up-key' }), 403, /not one the portal issued/, 'a made-up key');
    await call(base, 'POST', `/api/v1/tasks/${task.id}/cancel`, { as: admin });
    assert.not.match((await call(base, 'GET', `/boot/ipxe?mac=${mac}`)).text, /kernel/, 'after cancelling: the local disk');
    expectError(await call(base, 'GET', `/api/v1/hosts/${mac}/task`, { as: key }), 403, /has ended for it \(cancelled\)/, 'the key once its task ended');
    // The boot files: only those the boot image has, and a clear word when it is not built.
    expectError(await call(base, 'GET', '/boot/shoal/..%2Fshoal.sqlite'), 404, /no boot file/, 'a path out of the boot directory');
    const kernel = await fetch(`${base}/boot/shoal/vmlinuz`);
    if (kernel.status === 404) assert.match(await kernel.text(), /npm run build:boot/);
    else assert.is(kernel.headers.get('content-type'), 'application/octet-stream');
  });

  T(
    'bad bodies and ids: not JSON, null, a string, __proto__, a NUL character, an id that is no number: each a 400 in the one error shape',
    async ({ base, admin }) => {
      for (const raw of ['{bad', 'null', '"a string"', '{"__proto__":{"admin":true},"mac":"52:54:00:ff:0e:01"}']) {
        expectError(await call(base, 'POST', '/api/v1/hosts/register', { raw }), 400, /the body is not a JSON object/, `a PC's body ${raw}`);
        expectError(await call(base, 'POST', '/api/v1/hosts', { as: admin, raw }), 400, /the body is not a JSON object/, `an admin's body ${raw}`);
      }
      expectError(
        await call(base, 'POST', '/api/v1/hosts/register', { body: { mac: '52:54:00:ff:0e:02', name: 'a\u0000b' } }),
        400,
        /NUL character/,
        'a NUL in a field',
      );
      expectError(
        await call(base, 'POST', '/api/v1/session', { body: { username: 'ad\u0000min', password: 'x' } }),
        400,
        /NUL character/,
        'a NUL in a user name',
      );
      expectError(await call(base, 'GET', '/api/v1/images/la%00b', { as: admin }), 400, /NUL character/, 'a NUL in a path');
      for (const id of ['abc', '1e99', '-1', '0', '99999999999999999999'])
        expectError(await call(base, 'GET', `/api/v1/tasks/${id}`, { as: admin }), 400, /is not an id/, `task id ${id}`);
      expectError(await call(base, 'DELETE', '/api/v1/tokens/x', { as: admin }), 400, /is not an id/, 'token id x');
    },
  );

  T('registration: quick and full; a registered host is not moved by a PC without its key', async ({ base, admin }) => {
    assert.is((await call(base, 'POST', '/api/v1/hosts/register', { body: { mac: '52:54:00:ff:00:01' } })).status, 200);
    const inventory = {
      cpu: 'Intel Core i5',
      cores: 4,
      memoryBytes: 8e9,
      disks: [{ name: 'sda', sizeBytes: 256e9 }],
      nics: [{ name: 'eth0', mac: '52:54:00:ff:00:02' }],
      firmware: 'uefi',
    };
    assert.is(
      (await call(base, 'POST', '/api/v1/hosts/register', { body: { mac: '52:54:00:ff:00:02', name: 'lab-pc-2', group: 'Room 101', image: 'lab', inventory } }))
        .status,
      200,
    );
    const h = (await call(base, 'GET', '/api/v1/hosts?search=lab-pc-2', { as: admin, schema: HostListSchema })).body.hosts[0]!;
    assert.equal([h.name, h.group, h.image, h.inventory?.firmware, h.inventory?.disks?.[0]?.sizeBytes], ['lab-pc-2', 'Room 101', 'lab', 'uefi', 256e9]);
    expectError(
      await call(base, 'POST', '/api/v1/hosts/register', { body: { mac: '52:54:00:ff:00:02', group: 'Room 202' } }),
      403,
      /its group can be changed by an admin only/,
      'moving a registered host',
    );
    expectError(
      await call(base, 'POST', '/api/v1/hosts/register', { body: { mac: '52:54:00:ff:00:03', group: 'Room 999' } }),
      400,
      /unknown group Room 999/,
      'registering into an unknown group',
    );
    assert.is(
      (await call(base, 'POST', '/api/v1/hosts/register', { body: { mac: '52:54:00:ff:00:02', inventory: { ...inventory, memoryBytes: 16e9 } } })).status,
      200,
      'inventory refreshes without a key',
    );
  });

  T('live: a dashboard gets a snapshot, then the hosts that report, within a second', async ({ base, admin }) => {
    const mac = '52:54:00:ab:00:01';
    const task = (await call(base, 'POST', '/api/v1/tasks', { as: admin, body: { kind: 'deploy', image: 'lab', hosts: [mac] }, schema: TaskSchema })).body;
    const key = (await call(base, 'GET', `/api/v1/hosts/${mac}/task`, { schema: DeployTaskSchema })).body.key;
    const ac = new AbortController();
    const res = await fetch(`${base}/api/v1/tasks/${task.id}/events`, { headers: { cookie: admin }, signal: ac.signal });
    assert.match(res.headers.get('content-type')!, /text\/event-stream/);
    const reader = res.body!.getReader();
    let text = '';
    const until = async (re: RegExp): Promise<number> => {
      const deadline = Date.now() + 5_000;
      while (!re.test(text)) {
        if (Date.now() > deadline) throw new Error(`no ${re} in ${text.slice(-500)}`);
        text += new TextDecoder().decode((await reader.read()).value);
      }
      return Date.now();
    };
    await until(/event: snapshot\ndata: .*"booting"/);
    const sent = Date.now();
    const progress = {
      state: 'running',
      piecesDone: 4,
      piecesTotal: 10,
      bytesDone: 4,
      bytesTotal: 10,
      downloadBytesPerSec: 5,
      uploadBytesPerSec: 0,
      downloadedBytes: 4,
      uploadedBytes: 0,
      peers: 1,
    };
    await call(base, 'POST', `/api/v1/tasks/${task.id}/hosts/${mac}/progress`, { as: key, body: progress });
    const seen = await until(/event: hosts\ndata: .*"piecesDone":4/);
    assert.ok(seen - sent < 1_000, `the report reached the dashboard in ${seen - sent} ms`);
    await until(/event: totals\ndata: /);
    ac.abort();
    await call(base, 'POST', `/api/v1/tasks/${task.id}/cancel`, { as: admin });
  });

  T('OpenAPI: every documented route is served, and the document names its roles', async ({ base }) => {
    const doc = (await call(base, 'GET', '/api/openapi.json', { schema: OpenApiDocSchema })).body;
    assert.is(doc.openapi, '3.1.0');
    const paths = Object.keys(doc.paths);
    assert.ok(paths.length >= 30, `${paths.length} paths`);
    expectError(await call(base, 'GET', '/api/v1/nothing-here'), 404, /no such route: GET \/api\/v1\/nothing-here/, 'an unknown route');
    expectError(await call(base, 'PUT', '/api/v1/hosts'), 404, /no such route: PUT/, 'a method no route takes');
    for (const [path, methods] of Object.entries(doc.paths)) {
      for (const [method, op] of Object.entries(methods)) {
        assert.match(op.description, /Who may call/, `${method} ${path} names who may call it`);
        // A path nothing serves says "no such route"; served ones answer something else (here mostly 4xx for made-up ids).
        const res = await fetch(`${base}${path.replace(/\{[^}]+\}/g, '52:54:00:00:00:99')}`, {
          method: method.toUpperCase(),
          headers: { 'content-type': 'application/json' },
          body: ['get', 'delete'].includes(method) ? undefined : '{}',
        });
        const text = await res.text();
        assert.not.match(text, /no such route/, `${method} ${path} is routed (${res.status} ${text.slice(0, 80)})`);
      }
    }
  });

  T('OpenAPI: every JSON success answer has its schema; a 204 has no body', async ({ base }) => {
    const doc = (await call(base, 'GET', '/api/openapi.json', { schema: OpenApiDocSchema })).body;
    let json = 0;
    for (const [path, methods] of Object.entries(doc.paths)) {
      for (const [method, op] of Object.entries(methods)) {
        const route = `${method.toUpperCase()} ${path}`;
        const ok = Object.keys(op.responses).filter((s) => /^2\d\d$/.test(s));
        assert.is(ok.length, 1, `${route} documents one success answer (${ok.join(', ')})`);
        const answer = op.responses[ok[0]!]!;
        if (ok[0] === '204') {
          assert.is(answer.content, undefined, `${route}: a 204 has no body`);
          continue;
        }
        const types = Object.keys(answer.content ?? {});
        assert.is(types.length, 1, `${route} names its answer's media type`);
        if (types[0] !== 'application/json') continue;
        json++;
        const schema = answer.content!['application/json']!.schema;
        assert.ok(Object.keys(schema).length > 0, `${route}: its JSON answer has a schema, not {}`);
        assert.ok(
          schema.type === 'object' || Array.isArray(schema.anyOf) || Array.isArray(schema.oneOf),
          `${route}: its answer is described (${JSON.stringify(schema).slice(0, 80)})`,
        );
      }
    }
    assert.ok(json >= 40, `${json} routes answer JSON`);
    // One schema checked by hand: what the UI's host list reads.
    const hosts = checked(HostsAnswerSchema, doc.paths['/api/v1/hosts']?.get?.responses['200']?.content?.['application/json']?.schema, 'the host list');
    assert.equal(hosts.required, ['hosts']);
    const host = hosts.properties.hosts.items;
    for (const field of ['mac', 'name', 'group', 'image', 'pending', 'lastSeen', 'task']) assert.ok(host.required.includes(field), `a host has ${field}`);
    assert.equal(host.properties.task.anyOf[0].properties.state.enum, ['queued', 'booting', 'waiting', 'running', 'seeding', 'done', 'failed', 'cancelled']);
  });

  T.run();
}

const end = suite('portal api: teardown');
end('stop everything', async () => {
  await killAll();
  cleanup();
});
end.run();
