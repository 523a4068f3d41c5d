/**
 * Network boot, end to end, into the deployed system: a qemu VM (software emulation: KVM does not
 * work here) on the lab simulator's bridge boots from Shoal's dnsmasq (proxy DHCP beside a lab
 * DHCP server for BIOS, full DHCP as an isolated lab would run it for UEFI), gets the portal's
 * iPXE script (or GRUB's per-host file), boots the boot image built by `npm run build:boot`
 * (Debian's kernel, the initramfs with Node and the bundled client), deploys the test OS (a
 * minimal Debian 12, scripts/test-os) through the swarm together with two `shoal join` PCs in
 * namespaces, and reboots (the task's finish; qemu runs with -no-reboot, so the reboot ends the
 * process and the test powers the same VM on again, its firmware variables kept). Booted again
 * with nothing pending, the portal logs the request and answers "local disk", no client starts,
 * and the firmware boots the deployed Debian from the VM's disk, which reports on the serial
 * console that it is up (root by UUID, swap, and for UEFI Secure Boot enforced) and powers off.
 * Namespaces, bridge and tap are torn down whatever happens.
 *
 * Needs dist/boot (the boot image): built here when missing or older than the client (~30 s, and
 * Debian's kernel, shim, GRUB and iPXE downloaded once).
 */
import { suite } from '../suite.js';
import * as assert from 'uvu/assert';
import type { ChildProcess } from 'node:child_process';
import { readFileSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { assertPartitionsDeployed, cleanup, fsck, fsIdentity, loop, makeDisk, MiB, sh, unloop, workDir } from './fixtures.js';
import { assertBooted } from './boot-report.js';
import { copyDisk, debianDisk, partitionsOf } from '../../scripts/test-os/debian-disk.js';
import { parseReport } from '../../scripts/test-os/boot-vm.js';
import { shoalOk } from './cli.js';
import { waitFor } from './processes.js';
import { createLabNet, labLeftovers, type LabNet } from '../../scripts/lab/netns.js';
import { caOfDataDir, PortalClient } from '../../shared/http/portal-client.js';
import { HostSchema, TaskSchema } from '../../shared/http/portal-contract.js';
import { ensureBootImage, groupMembers, portalOf, startLabDhcp, startPxeServer, startVm, stopServer, type Firmware } from '../../scripts/lab/netboot-vm.js';

const ROOT = fileURLToPath(new URL('../../..', import.meta.url));
const PC_CLI = join(ROOT, 'dist/pc/cli.js');
const VM_MAC = '52:54:00:5e:00:01';
/** Software emulation is slow: the VM's boot and deploy get this long. */
const VM_TIMEOUT_MS = 15 * 60_000;
/** The deployed Debian's boot, from power on to its report. */
const OS_BOOT_TIMEOUT_MS = 5 * 60_000;
/** The test OS's root: partition 3 of its GPT disk. */
const ROOT_PART = 3;
const DISK_MIB = 1200;

const T = suite('network boot');
let lab: LabNet | undefined;
const children: ChildProcess[] = [];
let server: ChildProcess | undefined;
/** Stops VMs, PCs, the lab DHCP server and the whole `shoal start` process group, then the network. */
async function tearDown(): Promise<void> {
  for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  if (server) await stopServer(server);
  server = undefined;
  lab?.teardown();
  lab = undefined;
}
T.after.each(tearDown);

async function assertNothingLeft(group: number): Promise<void> {
  await tearDown();
  assert.equal(labLeftovers(), [], 'namespaces, bridge and tap gone');
  // Bounded: 20 looks, 0.1 s apart (SIGKILLed processes take a moment to go).
  for (let i = 0; i < 20 && groupMembers(group).length; i++) await new Promise((r) => setTimeout(r, 100));
  assert.equal(groupMembers(group), [], 'no process of the server left (portal, tracker, seeder, dnsmasq)');
}
T.after(() => cleanup());

/** Lines a child writes, kept for assertions and shown when the test fails. */
function collect(c: ChildProcess): { text: () => string } {
  let text = '';
  c.stdout?.on('data', (d) => (text += d));
  c.stderr?.on('data', (d) => (text += d));
  return { text: () => text };
}

/** The console's readable lines (the firmware's boot attempts, GRUB, the kernel), without its screen drawing. */
// The terminal's escape sequences are what is taken out.
// eslint-disable-next-line no-control-regex
const ESCAPES = /\x1b\[[0-9;=?]*[A-Za-z]/g;
const bootLines = (serial: string): string =>
  serial
    .replace(ESCAPES, '\n')
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => /[a-z]{3}/i.test(l))
    .slice(-60)
    .join('\n');

/** A file of an ext4 partition of a disk-image file, read with debugfs (no mount). */
function fileOn(disk: string, part: { start: number; size: number }, path: string): string {
  const dev = loop(disk, part.start, part.size);
  try {
    return sh('debugfs', ['-R', `cat ${path}`, dev]);
  } finally {
    unloop(dev);
  }
}

/** A disk holds the test OS as captured: the same partitions, the root's UUID, every filesystem's check clean. */
function assertHoldsTestOs(source: string, disk: string): void {
  const want = partitionsOf(source);
  const got = partitionsOf(disk);
  assert.equal(
    got.map((p) => [p.number, p.start, p.size, p.type]),
    want.map((p) => [p.number, p.start, p.size, p.type]),
    `${disk}: the partitions`,
  );
  const root = got.find((p) => p.number === ROOT_PART)!;
  assert.is(fsIdentity(disk, root.start, root.size).uuid, fsIdentity(source, root.start, root.size).uuid);
  fsck(disk, root.start, root.size, 'ext4');
}

/**
 * `bootOs`: deploy the test OS and boot it after the reboot, until its kernel starts from the disk
 * (`kernel`) or until the booted Debian reports (`report`); `false`: a small disk of files, checked
 * file by file, and the VM powers off. The UEFI run deploys a test OS whose loader is only
 * at \EFI\debian\ (no removable path), in a VM whose firmware variables never saw it: only the
 * boot entry the client made finds it. Its second power-on leaves the boot order to the firmware's
 * variables, as a real PC does (the first had qemu put the network first, as an admin sets a lab
 * PC up): network first, the deployed Debian right after, no PXE over IPv6 or HTTP boot between.
 * Each PC is deployed with its host record's name, which the booted Debian reports.
 */
async function netbootDeploy(firmware: Firmware, dhcp: 'full' | 'proxy', bootOs: false | 'kernel' | 'report'): Promise<void> {
  ensureBootImage();
  const dir = workDir();
  const fixture = bootOs ? undefined : makeDisk(dir, 'src.img', 48, 'gpt', [{ sizeMiB: 32, fs: 'ext4', name: 'root' }], 8);
  const src = fixture?.path ?? copyDisk(await debianDisk({ layout: 'gpt', removablePath: firmware === 'bios' }), join(dir, 'src.img'));
  const diskMiB = bootOs ? DISK_MIB : 64;
  const store = join(dir, 'store');
  shoalOk('capture', '--disk', src, '--store', store, '--image', 'netboot', '--type', 'multipart');
  // Namespaces 0 and 1 are PCs; 2 is the lab's own DHCP server when Shoal runs proxy DHCP.
  lab = createLabNet({ clients: dhcp === 'proxy' ? 3 : 2, clientMbit: 400, serverMbit: 400 });
  const tap = lab.addTap(0);
  if (dhcp === 'proxy') children.push(startLabDhcp(lab.clients[2]!, dir));
  const PORTAL = portalOf(lab);
  server = startPxeServer(lab, { data: join(dir, 'data'), store, dhcp, env: { SHOAL_LOG_LEVEL: 'info' } });
  const serverOut = collect(server);
  const token = await waitFor('the server up with the image seeded', 60_000, async () => {
    try {
      const t = readFileSync(join(dir, 'data', 'admin-token'), 'utf8').trim();
      const r = await new PortalClient({ url: PORTAL, token: t, ca: caOfDataDir(join(dir, 'data')) }).raw('GET', '/api/v1/images');
      return r.ok && ((await r.json()) as { images: Array<{ nodes: string[] }> }).images.some((i) => i.nodes.length) ? t : undefined;
    } catch {
      return undefined;
    }
  });
  const admin = new PortalClient({ url: PORTAL, token, ca: caOfDataDir(join(dir, 'data')) });
  const macs = [VM_MAC, '52:54:00:5e:00:10', '52:54:00:5e:00:11'];
  for (const [i, mac] of macs.entries()) await admin.post(HostSchema, '/api/v1/hosts', { mac, name: `lab-pc-0${i + 1}` });
  const task = await admin.post(TaskSchema, '/api/v1/tasks', {
    kind: 'deploy',
    image: 'netboot',
    hosts: macs,
    finish: bootOs ? 'reboot' : 'poweroff',
    lingerSeconds: 120,
  });

  const vmDisk = join(dir, 'vm.img');
  writeFileSync(vmDisk, '');
  truncateSync(vmDisk, diskMiB * MiB);
  const serial = join(dir, 'vm-serial.log');
  const started = Date.now();
  const vm = startVm({ firmware, tap, mac: VM_MAC, disk: vmDisk, serialLog: serial, dir });
  children.push(vm.child);
  const pcs = [0, 1].map((i) => {
    const disk = join(dir, `pc-${i}.img`);
    writeFileSync(disk, '');
    truncateSync(disk, diskMiB * MiB);
    const c = lab!.clients[i]!.spawn(process.execPath, [PC_CLI, 'join', '--portal', PORTAL, '--disk', disk, '--mac', macs[i + 1]!, '--wait', '30'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    children.push(c);
    return { c, out: collect(c), disk };
  });
  let timer: NodeJS.Timeout | undefined;
  const vmExit = await Promise.race([vm.exited, new Promise<number>((resolve) => (timer = setTimeout(() => resolve(-1), VM_TIMEOUT_MS)))]);
  clearTimeout(timer);
  const vmSeconds = (Date.now() - started) / 1000;
  const said = readFileSync(serial, 'utf8');
  if (vmExit !== 0) {
    const serverSaid = serverOut
      .text()
      .split('\n')
      .filter((l) => !/dnsmasq-(dhcp|tftp)\[\d+\]: \d+ /.test(l));
    console.log(
      `--- VM serial ---\n${bootLines(said)}\n--- qemu ---\n${vm.qemuSaid()}\n--- server (without DHCP's packet lines) ---\n${serverSaid.slice(-80).join('\n')}`,
    );
  }
  assert.is(vmExit, 0, 'the VM rebooted or powered off (with -no-reboot, qemu exits either way)');
  console.log(
    said
      .split(/\r?\n/)
      .filter((l) => /shoal-init|Secure Boot|secureboot/i.test(l))
      .map((l) => `  ${firmware} VM: ${l.trim()}`)
      .join('\n'),
  );
  const done = await admin.get(TaskSchema, `/api/v1/tasks/${task.id}`);
  const vmHost = done.hosts.find((h) => h.mac === VM_MAC)!;
  assert.ok(['done', 'seeding'].includes(vmHost.state), `the VM's host is ${vmHost.state}: ${vmHost.error ?? ''}`);
  assert.match(said, /running the Shoal client/);
  assert.match(said, firmware === 'bios' ? /firmware: BIOS/ : /firmware: UEFI, Secure Boot on/);
  const holds = (disk: string): void => (fixture ? assertPartitionsDeployed(fixture, disk, dir) : assertHoldsTestOs(src, disk));
  holds(vmDisk);
  for (const p of pcs) {
    await waitFor('the namespace PC done', 120_000, async () => (p.c.exitCode !== null ? true : undefined));
    assert.is(p.c.exitCode, 0, p.out.text());
    holds(p.disk);
  }
  console.log(`  ${firmware}: the VM booted, deployed and ${bootOs ? 'rebooted' : 'powered off'} in ${vmSeconds.toFixed(0)} s (software emulation)`);
  if (!bootOs) return assertNothingLeft(server.pid!);

  // Read before the VM powers on again: the deployed disk as the client left it.
  const root = partitionsOf(vmDisk).find((p) => p.number === ROOT_PART)!;
  const rootUuid = fsIdentity(vmDisk, root.start, root.size).uuid;
  for (const [i, p] of pcs.entries()) assert.is(fileOn(p.disk, root, '/etc/hostname'), `lab-pc-0${i + 2}\n`, 'each PC its own name');
  assert.match(said, /named lab-pc-01 \(linux on partition 3\)/, 'the client says it named the PC');

  // The reboot: nothing pending, the portal answers "local disk", no client starts, and the
  // firmware boots the deployed Debian from the disk.
  const again = join(dir, 'vm-serial-2.log');
  const before = serverOut.text().length;
  const booted = Date.now();
  const vm2 = startVm({ firmware, tap, mac: VM_MAC, disk: vmDisk, serialLog: again, dir, bootOrder: 'firmware' });
  children.push(vm2.child);
  // BIOS: iPXE asks the portal, which answers "local disk". UEFI: dnsmasq offers no boot file to a
  // PC without a task, so its network boot fails at once and the firmware goes on to the disk.
  if (firmware === 'bios')
    await waitFor('the portal to log the second boot request', 120_000, async () =>
      /boot request: nothing pending|nothing to do for this PC/.test(serverOut.text().slice(before) + readFileSync(again, 'utf8')) ? true : undefined,
    );
  if (bootOs === 'kernel') {
    // BIOS: the deployed disk's GRUB starts the deployed kernel on the deployed root. The rest of
    // that Debian's boot (swap, the name it reports) is os-boot.test.ts's for BIOS, and the UEFI
    // run's below; waiting for it here cost about a minute of CI under software emulation.
    await waitFor("the deployed Debian's kernel to start from the disk", OS_BOOT_TIMEOUT_MS, async () =>
      new RegExp(`Command line: \\S+ root=UUID=${rootUuid} `).test(readFileSync(again, 'utf8')) ? true : undefined,
    ).catch((err: Error) => {
      throw new Error(`${err.message}; what the firmware and boot loaders said:\n${bootLines(readFileSync(again, 'utf8'))}`);
    });
    vm2.child.kill('SIGKILL');
    assert.not.match(readFileSync(again, 'utf8'), /running the Shoal client/);
    assert.is(fileOn(vmDisk, root, '/etc/hostname'), 'lab-pc-01\n', 'the VM named as its host record says');
    console.log(`  ${firmware}: the deployed Debian's kernel started from the disk ${((Date.now() - booted) / 1000).toFixed(0)} s after power on`);
    return assertNothingLeft(server.pid!);
  }
  const report = await waitFor('the deployed Debian to report', OS_BOOT_TIMEOUT_MS, async () => parseReport(readFileSync(again, 'utf8'))).catch(
    (err: Error) => {
      throw new Error(`${err.message}; what the firmware and boot loaders said:\n${bootLines(readFileSync(again, 'utf8'))}`);
    },
  );
  const poweredOff = await Promise.race([vm2.exited.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), 60_000))]);
  const console2 = readFileSync(again, 'utf8');
  assert.not.match(console2, /running the Shoal client/);
  console.log(`  ${firmware}: the deployed Debian was up ${((Date.now() - booted) / 1000).toFixed(0)} s after power on: ${JSON.stringify(report)}`);
  assertBooted(
    { report, serial: console2, seconds: 0, poweredOff },
    {
      firmware,
      rootDev: `vda${ROOT_PART}`,
      rootPartBytes: root.size,
      rootUuid,
      hostname: 'lab-pc-01',
      machineId: fileOn(vmDisk, root, '/etc/machine-id').trim(),
    },
  );
  if (firmware !== 'bios') {
    assert.match(said, /UEFI boot entry Boot[0-9A-F]{4} "debian" for EFI\/debian\/shimx64\.efi created, boot order [0-9A-F]{4},[0-9A-F]{4}/);
    // The client's boot entry: the network entry first (the portal was asked), then the deployed
    // Debian at once, with no PXE over IPv6 or HTTP boot timing out in between.
    assert.match(console2, /Start PXE over IPv4/);
    assert.not.match(console2, /NBP file downloaded/, 'no boot file for a PC without a task');
    assert.not.match(console2, /Start PXE over IPv6|Start HTTP Boot/, 'the deployed OS comes right after the network entry');
  }
  await assertNothingLeft(server.pid!);
}

T(
  "a BIOS VM network-boots (iPXE, Shoal's proxy DHCP beside the lab's DHCP server), deploys Debian through the swarm with two PCs and reboots; with nothing pending it boots the deployed Debian from its disk, named as its host record says",
  () => netbootDeploy('bios', 'proxy', 'kernel'),
);

T(
  "a UEFI VM with Secure Boot enforced network-boots (Shoal's full DHCP; shim, signed GRUB, signed kernel), deploys a Debian whose loader is only at EFI/debian/ through the swarm with two PCs and reboots; its new boot entry, right after the network's, boots the deployed Debian",
  () => netbootDeploy('uefi-secure-boot', 'full', 'report'),
);

T.run();
