/**
 * Network boot, end to end: a qemu VM (software emulation: KVM does not work here) on the lab
 * simulator's bridge boots from Shoal's dnsmasq (proxy DHCP beside a lab DHCP server for BIOS,
 * full DHCP as an isolated lab would run it for UEFI), gets
 * the portal's iPXE script, boots the boot image built by `npm run build:boot` (Debian's kernel, the
 * initramfs with Node and the bundled client), deploys through the swarm together with two `shoal
 * join` PCs in namespaces, and powers off; its virtual disk then checks out file by file. The same
 * VM booted again with nothing pending goes to its local disk: the portal logs the request and no
 * client starts. Namespaces, bridge and tap are torn down whatever happens.
 *
 * Needs dist/boot (the boot image): built here when missing or older than the client (~30 s, and
 * Debian's kernel, shim, GRUB and iPXE downloaded once).
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { ChildProcess } from 'node:child_process';
import { readFileSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { assertPartitionsDeployed, cleanup, makeDisk, MiB, workDir } from './fixtures.js';
import { shoalOk } from './cli.js';
import { waitFor } from './processes.js';
import { createLabNet, labLeftovers, type LabNet } from '../../scripts/lab/netns.js';
import { ensureBootImage, groupMembers, portalOf, startLabDhcp, startPxeServer, startVm, stopServer, type Firmware } from '../../scripts/lab/netboot-vm.js';

const ROOT = fileURLToPath(new URL('../../..', import.meta.url));
const PC_CLI = join(ROOT, 'dist/pc/cli.js');
const VM_MAC = '52:54:00:5e:00:01';
/** Software emulation is slow: the VM's boot and deploy get this long. */
const VM_TIMEOUT_MS = 10 * 60_000;

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

async function netbootDeploy(firmware: Firmware, dhcp: 'full' | 'proxy'): Promise<void> {
  ensureBootImage();
  const dir = workDir();
  const src = makeDisk(dir, 'src.img', 48, 'gpt', [{ sizeMiB: 32, fs: 'ext4', name: 'root' }], 8);
  const store = join(dir, 'store');
  shoalOk('capture', '--disk', src.path, '--store', store, '--image', 'netboot', '--type', 'multipart', '--piece-length', String(256 * 1024));
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
      const r = await fetch(`${PORTAL}/api/v1/images`, { headers: { authorization: `Bearer ${t}` } });
      return r.ok && (await r.json() as { images: Array<{ nodes: string[] }> }).images.some((i) => i.nodes.length) ? t : undefined;
    } catch {
      return undefined;
    }
  });
  const api = async (method: string, path: string, body?: unknown) => {
    const r = await fetch(`${PORTAL}${path}`, { method, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: body ? JSON.stringify(body) : undefined });
    if (!r.ok) throw new Error(`${method} ${path}: ${r.status} ${await r.text()}`);
    return r.json() as Promise<any>;
  };
  const macs = [VM_MAC, '52:54:00:5e:00:10', '52:54:00:5e:00:11'];
  for (const mac of macs) await api('POST', '/api/v1/hosts', { mac });
  const task = await api('POST', '/api/v1/tasks', { kind: 'deploy', image: 'netboot', hosts: macs, finish: 'poweroff', lingerSeconds: 120 });

  const vmDisk = join(dir, 'vm.img');
  writeFileSync(vmDisk, '');
  truncateSync(vmDisk, 64 * MiB);
  const serial = join(dir, 'vm-serial.log');
  const started = Date.now();
  const vm = startVm({ firmware, tap, mac: VM_MAC, disk: vmDisk, serialLog: serial, dir });
  children.push(vm.child);
  const pcs = [0, 1].map((i) => {
    const disk = join(dir, `pc-${i}.img`);
    writeFileSync(disk, '');
    truncateSync(disk, 64 * MiB);
    const c = lab!.clients[i]!.spawn(process.execPath, [PC_CLI, 'join', '--portal', PORTAL, '--disk', disk, '--mac', macs[i + 1]!, '--wait', '30'], { stdio: ['ignore', 'pipe', 'pipe'] });
    children.push(c);
    return { c, out: collect(c), disk };
  });
  let timer: NodeJS.Timeout | undefined;
  const vmExit = await Promise.race([vm.exited, new Promise<number>((resolve) => (timer = setTimeout(() => resolve(-1), VM_TIMEOUT_MS)))]);
  clearTimeout(timer);
  const vmSeconds = (Date.now() - started) / 1000;
  const said = readFileSync(serial, 'utf8');
  if (vmExit !== 0) console.log(`--- VM serial ---\n${said.slice(-6000)}\n--- qemu ---\n${vm.qemuSaid()}\n--- server ---\n${serverOut.text().slice(-4000)}`);
  assert.is(vmExit, 0, 'the VM powered itself off');
  console.log(said.split(/\r?\n/).filter((l) => /shoal-init|Secure Boot|secureboot/i.test(l)).map((l) => `  ${firmware} VM: ${l.trim()}`).join('\n'));
  const done = await api('GET', `/api/v1/tasks/${task.id}`);
  const vmHost = done.hosts.find((h: { mac: string }) => h.mac === VM_MAC);
  assert.ok(['done', 'seeding'].includes(vmHost.state), `the VM's host is ${vmHost.state}: ${vmHost.error ?? ''}`);
  assert.match(said, /running the Shoal client/);
  assert.match(said, firmware === 'bios' ? /firmware: BIOS/ : /firmware: UEFI, Secure Boot on/);
  assertPartitionsDeployed(src, vmDisk, dir);
  for (const p of pcs) {
    await waitFor('the namespace PC done', 120_000, async () => (p.c.exitCode !== null ? true : undefined));
    assert.is(p.c.exitCode, 0, p.out.text());
    assertPartitionsDeployed(src, p.disk, dir);
  }
  console.log(`  ${firmware}: the VM booted, deployed and powered off in ${vmSeconds.toFixed(0)} s (software emulation)`);
  if (firmware !== 'bios') return assertNothingLeft(server.pid!);

  // Booted again with nothing pending: the portal answers "local disk" and no client starts.
  const again = join(dir, 'vm-serial-2.log');
  const vm2 = startVm({ firmware, tap, mac: VM_MAC, disk: vmDisk, serialLog: again, dir });
  children.push(vm2.child);
  const before = serverOut.text().length;
  await waitFor('the portal to log the second boot request', 120_000, async () => (/boot request: nothing pending/.test(serverOut.text().slice(before)) ? true : undefined));
  await new Promise((r) => setTimeout(r, 3000));
  vm2.child.kill('SIGKILL');
  assert.not.match(readFileSync(again, 'utf8'), /running the Shoal client/);
  await assertNothingLeft(server.pid!);
}

T('a BIOS VM network-boots (iPXE, Shoal\'s proxy DHCP beside the lab\'s DHCP server), deploys through the swarm with two PCs, powers off; its disk checks out; booted again with nothing pending it goes to its disk', () => netbootDeploy('bios', 'proxy'));

T('a UEFI VM with Secure Boot enforced network-boots (Shoal\'s full DHCP; shim, signed GRUB, signed kernel), deploys through the swarm with two PCs; its disk checks out', () => netbootDeploy('uefi-secure-boot', 'full'));

T.run();
