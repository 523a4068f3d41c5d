/**
 * Each PC gets its own identity after a deploy, from the portal's host record: a reference disk
 * with a Linux root (hostname, hosts, machine-id, D-Bus's copy) and a Windows partition (a real
 * SYSTEM hive made here: registry-hive.ts says how) is captured, served by `shoal start` on
 * loopback, and deployed by `shoal join` as a network-booted PC runs it. The deployed systems carry
 * the host's name and a fresh machine-id; the hive's other values and its other control set stay
 * as they were; an image with identity turned off deploys as captured; a deployed system whose
 * /etc/hostname links outside it is refused, and nothing outside is written.
 */
import { suite } from '../suite.js';
import * as assert from 'uvu/assert';
import { copyFileSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { blankDisk, cleanup, loop, makeDisk, MiB, mount, umount, unloop, workDir, type FixtureDisk } from './fixtures.js';
import { shoalOk } from './cli.js';
import { killAll, labClient, startLab, type LabServer } from './processes.js';
import { HostSchema, ImageSchema, TaskSchema } from '../../shared/http/portal-contract.js';
import { hiveValue, writeSystemHive } from './registry-hive.js';
import { personalizeDisks } from '../../client/finish/host-personalize.js';

const T = suite<{ dir: string; src: FixtureDisk; lab?: LabServer }>('per-host identity');
const REF_ID = '0123456789abcdef0123456789abcdef';
const MAC = '52:54:00:1d:00:07';

/** Runs fn on a partition of a disk-image file, mounted. */
function onPartition<T>(disk: string, p: { start: number; size: number }, fs: string, dir: string, fn: (root: string) => T): T {
  const dev = loop(disk, p.start, p.size);
  const mnt = mount(dev, fs, dir);
  try {
    return fn(mnt);
  } finally {
    umount(mnt);
    unloop(dev);
  }
}

function makeReference(dir: string): FixtureDisk {
  const src = makeDisk(
    dir,
    'src.img',
    200,
    'gpt',
    [
      { sizeMiB: 64, fs: 'ext4', name: 'root' },
      { sizeMiB: 64, fs: 'ntfs', name: 'Windows' },
    ],
    2,
  );
  onPartition(src.path, src.parts[0]!, 'ext4', dir, (root) => {
    mkdirSync(join(root, 'etc'));
    mkdirSync(join(root, 'var/lib/dbus'), { recursive: true });
    writeFileSync(join(root, 'etc/hostname'), 'ref-pc\n');
    writeFileSync(join(root, 'etc/hosts'), '127.0.0.1\tlocalhost\n127.0.1.1\tref-pc\n\n::1\tlocalhost ip6-localhost ip6-loopback\n');
    writeFileSync(join(root, 'etc/machine-id'), `${REF_ID}\n`);
    writeFileSync(join(root, 'var/lib/dbus/machine-id'), `${REF_ID}\n`);
    writeFileSync(join(root, 'etc/os-release'), 'ID=debian\n');
  });
  onPartition(src.path, src.parts[1]!, 'ntfs', dir, (root) => {
    mkdirSync(join(root, 'Windows/System32/config'), { recursive: true });
    writeSystemHive(join(root, 'Windows/System32/config/SYSTEM'), 'REF-PC');
  });
  return src;
}

interface Seen {
  hostname: string;
  hosts: string;
  machineId: string;
  dbusId: string;
  hive: string;
}

function whatItIs(disk: string, src: FixtureDisk, dir: string): Seen {
  const linux = onPartition(disk, src.parts[0]!, 'ext4', dir, (root) => ({
    hostname: readFileSync(join(root, 'etc/hostname'), 'utf8'),
    hosts: readFileSync(join(root, 'etc/hosts'), 'utf8'),
    machineId: readFileSync(join(root, 'etc/machine-id'), 'utf8').trim(),
    dbusId: readFileSync(join(root, 'var/lib/dbus/machine-id'), 'utf8').trim(),
  }));
  const hive = join(dir, `SYSTEM-${Math.random().toString(36).slice(2)}`);
  onPartition(disk, src.parts[1]!, 'ntfs', dir, (root) => copyFileSync(join(root, 'Windows/System32/config/SYSTEM'), hive));
  return { ...linux, hive };
}

async function deployTo(ctx: { dir: string; lab?: LabServer }, name: string): Promise<string> {
  const disk = blankDisk(join(ctx.dir, name), 200 * MiB);
  const task = await labClient(ctx.lab!).post(TaskSchema, '/api/v1/tasks', { kind: 'deploy', image: 'lab', hosts: [MAC], lingerSeconds: 0 });
  shoalOk('join', '--portal', ctx.lab!.portal, '--disk', disk, '--mac', MAC, '--transport', 'unicast');
  const t = await labClient(ctx.lab!).get(TaskSchema, `/api/v1/tasks/${task.id}`);
  assert.is(t.hosts[0]?.state, 'done', JSON.stringify(t.hosts[0]));
  return disk;
}

T.before(async (ctx) => {
  ctx.dir = workDir();
  ctx.src = makeReference(ctx.dir);
  const store = join(ctx.dir, 'store');
  shoalOk('capture', '--disk', ctx.src.path, '--store', store, '--image', 'lab', '--type', 'multipart');
  ctx.lab = await startLab(join(ctx.dir, 'data'), store, { image: 'lab' });
  await labClient(ctx.lab).post(HostSchema, '/api/v1/hosts', { mac: MAC, name: 'pc-07' });
});

T.after(async (ctx) => {
  await ctx.lab?.stop();
  await killAll();
  cleanup();
});

T(
  'a deploy names the PC from its host record: Linux hostname and hosts, a fresh machine-id; Windows computer name in the current control set, its other values kept',
  async (ctx) => {
    const disk = await deployTo(ctx, 'pc.img');
    const seen = whatItIs(disk, ctx.src, ctx.dir);
    assert.is(seen.hostname, 'pc-07\n');
    assert.is(seen.hosts, '127.0.0.1\tlocalhost\n127.0.1.1\tpc-07\n\n::1\tlocalhost ip6-localhost ip6-loopback\n');
    assert.match(seen.machineId, /^[0-9a-f]{32}$/);
    assert.is.not(seen.machineId, REF_ID, 'a fresh machine-id');
    assert.is(seen.dbusId, seen.machineId, "D-Bus's copy is the same new id");
    // Select\Current is 2: ControlSet002 is the one Windows boots with.
    assert.is(hiveValue(seen.hive, '\\ControlSet002\\Control\\ComputerName\\ComputerName', 'ComputerName'), 'PC-07');
    assert.is(hiveValue(seen.hive, '\\ControlSet002\\Services\\Tcpip\\Parameters', 'Hostname'), 'pc-07');
    assert.is(hiveValue(seen.hive, '\\ControlSet002\\Services\\Tcpip\\Parameters', 'NV Hostname'), 'pc-07');
    assert.is(hiveValue(seen.hive, '\\ControlSet002\\Services\\Tcpip\\Parameters', 'DataBasePath'), '%SystemRoot%\\System32\\drivers\\etc');
    assert.is(hiveValue(seen.hive, '\\ControlSet002\\Services\\Tcpip\\Parameters', 'UseDomainNameDevolution'), '1');
    assert.is(hiveValue(seen.hive, '\\ControlSet002\\Control\\ComputerName\\ComputerName', ''), 'mnmsrvc', 'the default value stays');
    assert.is(hiveValue(seen.hive, '\\ControlSet001\\Control\\ComputerName\\ComputerName', 'ComputerName'), 'REF-PC', 'the other control set is left alone');
    // The same image again onto the same PC: the name is written again, a new machine-id each time.
    const again = await deployTo(ctx, 'pc.img');
    assert.is(whatItIs(again, ctx.src, ctx.dir).hostname, 'pc-07\n');
  },
);

T('an image with identity turned off deploys as captured', async (ctx) => {
  const image = await labClient(ctx.lab!).patch(ImageSchema, '/api/v1/images/lab', { identity: false });
  assert.is(image.identity, false);
  const seen = whatItIs(await deployTo(ctx, 'pc-as-captured.img'), ctx.src, ctx.dir);
  assert.is(seen.hostname, 'ref-pc\n');
  assert.is(seen.machineId, REF_ID);
  assert.is(hiveValue(seen.hive, '\\ControlSet002\\Control\\ComputerName\\ComputerName', 'ComputerName'), 'REF-PC');
  await labClient(ctx.lab!).patch(ImageSchema, '/api/v1/images/lab', { identity: true });
});

T('the portal refuses a host name that would break the files it lands in', async (ctx) => {
  for (const name of ['pc 07', 'pc-07\n127.0.0.1 evil', '../pc']) {
    const r = await fetch(`${ctx.lab!.portal}/api/v1/hosts/${MAC}`, {
      method: 'PATCH',
      headers: { authorization: `Bearer ${ctx.lab!.token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ name }),
    });
    assert.is(r.status, 400, name);
  }
  const r = await fetch(`${ctx.lab!.portal}/api/v1/hosts/register`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ mac: '52:54:00:1d:00:99', name: 'x\nchain http://evil' }),
  });
  assert.is(r.status, 400, 'a PC registering itself is held to the same rule');
});

T('a deployed system whose /etc/hostname links outside it is refused, and nothing outside is written', async (ctx) => {
  const outside = join(ctx.dir, 'outside-file');
  writeFileSync(outside, 'untouched\n');
  const disk = makeDisk(ctx.dir, 'trap.img', 80, 'gpt', [{ sizeMiB: 64, fs: 'ext4', name: 'root' }], 1);
  onPartition(disk.path, disk.parts[0]!, 'ext4', ctx.dir, (root) => {
    mkdirSync(join(root, 'etc'));
    writeFileSync(join(root, 'etc/os-release'), 'ID=debian\n');
    symlinkSync(outside, join(root, 'etc/hostname'));
  });
  try {
    await personalizeDisks([disk.path], 'pc-07');
    assert.unreachable('a link out of the deployed system was followed');
  } catch (err) {
    assert.match((err as Error).message, /etc\/hostname on the deployed system is a symbolic link/);
  }
  assert.is(readFileSync(outside, 'utf8'), 'untouched\n');
  await personalizeDisks([disk.path], 'pc 07').then(
    () => assert.unreachable('a bad name was written'),
    (err: Error) => assert.match(err.message, /not a valid host name/),
  );
});

T.run();
