/**
 * Wake-on-LAN in the namespace lab: `shoal start` in the server's namespace, three PCs that have
 * registered from their own namespaces (so the portal knows their subnet), and in each PC's
 * namespace a listener on UDP port 9 where a NIC's wake logic looks: what it receives is what the
 * PCs' NICs would see. A task wakes its PCs at the rate it sets, each packet the magic packet of
 * one MAC to the subnet's broadcast; the portal wakes a host and a group on demand; a host never
 * seen on the network is not woken, and says why; `--no-wake` sends nothing.
 * Namespaces and bridge are torn down whatever happens.
 */
import { suite } from '../suite.js';
import * as assert from 'uvu/assert';
import { execFileSync, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cleanup, makeDisk, workDir } from './fixtures.js';
import { shoalOk } from './cli.js';
import { waitFor } from './processes.js';
import { createLabNet, labLeftovers, type LabNet } from '../../scripts/lab/netns.js';
import { caOfDataDir, PortalClient } from '../../shared/http/portal-client.js';
import { stopServer } from '../../scripts/lab/netboot-vm.js';
import { ApiErrorSchema } from '../../shared/http/api.js';
import { ApprovedSchema, TaskHostLogSchema, TaskSchema, WakeResultSchema } from '../../shared/http/portal-contract.js';

const ROOT = fileURLToPath(new URL('../../..', import.meta.url));
const CLI = join(ROOT, 'dist/client/cli.js');
const PORT = 8080;
// Each packet's arrival time and bytes, one JSON line each; "ready" once bound.
const LISTENER = `const s = require('dgram').createSocket({ type: 'udp4', reuseAddr: true });
s.on('message', (m, r) => console.log(JSON.stringify({ at: Date.now(), from: r.address, hex: m.toString('hex') })));
s.bind(9, () => console.log('ready'));`;

const T = suite('wake-on-LAN');
let lab: LabNet | undefined;
let server: ChildProcess | undefined;
const children: ChildProcess[] = [];

T.after(async () => {
  for (const c of children.splice(0)) if (c.exitCode === null) c.kill('SIGKILL');
  if (server) await stopServer(server);
  lab?.teardown();
  cleanup();
  assert.equal(labLeftovers(), [], 'namespaces and bridge gone');
});

const magic = (mac: string): string => 'ff'.repeat(6) + mac.replace(/:/g, '').repeat(16);

interface Heard {
  at: number;
  from: string;
  hex: string;
}

function listen(host: LabNet['clients'][number]): { heard: () => Heard[]; ready: Promise<void> } {
  const c = host.spawn(process.execPath, ['-e', LISTENER], { stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(c);
  let out = '';
  let ready!: () => void;
  const isReady = new Promise<void>((r) => (ready = r));
  c.stdout!.on('data', (d) => {
    out += d;
    if (out.includes('ready')) ready();
  });
  return {
    heard: () =>
      out
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l) as Heard),
    ready: isReady,
  };
}

function startShoal(data: string, store: string, addr: string, extra: string[] = []): ChildProcess {
  return lab!.server.spawn(process.execPath, [CLI, 'start', '--data', data, '--store', store, '--advertise', addr, '--port', String(PORT), ...extra], {
    stdio: ['ignore', 'ignore', 'ignore'],
    detached: true,
    env: { ...process.env, SHOAL_LOG_LEVEL: 'warn' },
  });
}

T('a task wakes its PCs at its rate, magic packets to their subnet; the portal wakes a host and a group on demand; --no-wake sends none', async () => {
  const dir = workDir();
  const store = join(dir, 'store');
  const data = join(dir, 'data');
  const src = makeDisk(dir, 'src.img', 24, 'gpt', [{ sizeMiB: 16, fs: 'ext4', name: 'root' }], 1);
  shoalOk('capture', '--disk', src.path, '--store', store, '--image', 'lab', '--type', 'multipart');
  lab = createLabNet({ clients: 3, clientMbit: 100, serverMbit: 100 });
  const portal = `http://${lab.server.addr}:${PORT}`;
  server = startShoal(data, store, lab.server.addr);
  const token = await waitFor('the portal with the image seeded', 60_000, async () => {
    try {
      const t = readFileSync(join(data, 'admin-token'), 'utf8').trim();
      const r = await new PortalClient({ url: portal, token: t, ca: caOfDataDir(data) }).raw('GET', '/api/v1/images');
      return r.ok && ((await r.json()) as { images: Array<{ nodes: string[] }> }).images.some((i) => i.nodes.length) ? t : undefined;
    } catch {
      return undefined;
    }
  });
  // Over HTTPS, trusting the certificate the portal made: from the server's namespace this harness is another machine.
  const admin = new PortalClient({ url: portal, token, ca: caOfDataDir(data) });
  // Whatever the status: the body is parsed by what the test expects of it (an answer's schema, or an error).
  const call = async (method: string, path: string, body?: unknown): Promise<{ status: number; body: unknown }> => {
    const r = await admin.raw(method, path, body === undefined ? {} : { body });
    return { status: r.status, body: (await r.json().catch(() => null)) as unknown };
  };
  // Each PC's own MAC, and a registration from its namespace: the portal learns its subnet.
  const macs = lab.clients.map(
    (c) => (JSON.parse(execFileSync('ip', ['-n', c.ns, '-j', 'link', 'show', 'eth0'], { encoding: 'utf8' })) as Array<{ address: string }>)[0]!.address,
  );
  const dummy = join(dir, 'unused.img');
  writeFileSync(dummy, 'x');
  for (const [i, c] of lab.clients.entries()) {
    const j = c.spawn(process.execPath, [CLI, 'join', '--portal', portal, '--disk', dummy, '--mac', macs[i]!], { stdio: 'ignore' });
    assert.is(await new Promise((r) => j.once('exit', r)), 0, 'a PC without a task registers and leaves');
  }
  // They registered themselves: they wait for the admin's approval, which is given.
  assert.equal(ApprovedSchema.parse((await call('POST', '/api/v1/hosts/approve', { hosts: macs })).body).approved.sort(), [...macs].sort());
  const never = '52:54:00:0f:f0:01';
  assert.is((await call('POST', '/api/v1/groups', { name: 'room' })).status, 201);
  for (const mac of [...macs, never])
    assert.ok(
      [200, 201].includes(
        (
          await call(
            mac === never ? 'POST' : 'PATCH',
            mac === never ? '/api/v1/hosts' : `/api/v1/hosts/${mac}`,
            mac === never ? { mac, group: 'room' } : { group: 'room' },
          )
        ).status,
      ),
    );
  const ears = lab.clients.map(listen);
  await Promise.all(ears.map((e) => e.ready));

  // The task: 4 a second.
  const task = TaskSchema.parse((await call('POST', '/api/v1/tasks', { kind: 'deploy', image: 'lab', group: 'room', wakePerSecond: 4 })).body);
  assert.is(task.wakePerSecond, 4);
  const sorted = [...macs].sort();
  const heardAll = (n: number) =>
    waitFor(`${n} packets in every PC's namespace`, 10_000, async () => (ears.every((e) => e.heard().length >= n) ? true : undefined));
  await heardAll(3);
  for (const e of ears) {
    const h = e.heard();
    assert.equal(
      h.map((p) => p.hex),
      sorted.map(magic),
      "each PC's magic packet once, in the task's order, heard on the whole subnet",
    );
    assert.ok(h.every((p) => p.from === lab!.server.addr));
    const gaps = h.slice(1).map((p, i) => p.at - h[i]!.at);
    assert.ok(
      gaps.every((g) => g >= 200),
      `paced at 4 a second: gaps ${gaps.join(', ')} ms`,
    );
  }
  const log = async (mac: string) =>
    TaskHostLogSchema.parse((await call('GET', `/api/v1/tasks/${task.id}/hosts/${mac}/log`)).body).entries.map((e) => e.message);
  await waitFor("the wake in the host's log", 5_000, async () =>
    (await log(macs[0]!)).includes('woken: Wake-on-LAN packet to 10.77.0.255') ? true : undefined,
  );
  assert.ok(
    (await log(never)).some((m) => /subnet is not known yet/.test(m)),
    'a host never seen on the network says why it was not woken',
  );
  await call('POST', `/api/v1/tasks/${task.id}/cancel`);

  // On demand: one host, then the group.
  const one = await call('POST', `/api/v1/hosts/${macs[1]}/wake`);
  assert.is(one.status, 200, JSON.stringify(one.body));
  assert.equal(WakeResultSchema.parse(one.body).addresses, ['10.77.0.255']);
  await heardAll(4);
  assert.is(ears[0]!.heard()[3]!.hex, magic(macs[1]!));
  const refused = await call('POST', `/api/v1/hosts/${never}/wake`);
  assert.is(refused.status, 409);
  assert.match(ApiErrorSchema.parse(refused.body).error, /subnet is not known yet/);
  const group = await call('POST', '/api/v1/groups/room/wake', { perSecond: 10 });
  assert.is(group.status, 200, JSON.stringify(group.body));
  const groupWoken = WakeResultSchema.parse(group.body);
  assert.equal(groupWoken.notWoken, [never]);
  assert.is(groupWoken.hosts, 3);
  await heardAll(7);
  assert.equal(
    ears[2]!
      .heard()
      .slice(4)
      .map((p) => p.hex),
    sorted.map(magic),
  );

  // --no-wake: the same portal restarted sends nothing, and says so.
  await stopServer(server);
  server = startShoal(data, store, lab.server.addr, ['--no-wake']);
  await waitFor('the portal again', 60_000, async () => ((await fetch(`${portal}/healthz`).catch(() => undefined))?.ok ? true : undefined));
  const quiet = TaskSchema.parse((await call('POST', '/api/v1/tasks', { kind: 'deploy', image: 'lab', group: 'room' })).body);
  const off = await call('POST', `/api/v1/hosts/${macs[0]}/wake`);
  assert.is(off.status, 409);
  assert.match(ApiErrorSchema.parse(off.body).error, /--no-wake/);
  await new Promise((r) => setTimeout(r, 2_000));
  assert.is(ears[0]!.heard().length, 7, 'nothing sent');
  assert.ok(
    TaskHostLogSchema.parse((await call('GET', `/api/v1/tasks/${quiet.id}/hosts/${macs[0]}/log`)).body).entries.some((e) => /--no-wake/.test(e.message)),
  );
});

T.run();
