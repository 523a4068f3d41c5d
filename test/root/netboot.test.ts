/**
 * Network boot, end to end: a qemu VM (software emulation: KVM does not work here) on the lab
 * simulator's bridge boots from Shoal's dnsmasq (full DHCP, as an isolated lab would run it), gets
 * the portal's iPXE script, boots the boot image built by `npm run build:boot` (Debian's kernel, the
 * initramfs with Node and the bundled client), deploys through the swarm together with two `shoal
 * join` PCs in namespaces, and powers off; its virtual disk then checks out file by file. The same
 * VM booted again with nothing pending goes to its local disk: the portal logs the request and no
 * client starts. Namespaces, bridge and tap are torn down whatever happens.
 *
 * Needs dist/boot (the boot image): the test builds it when missing (npm run build:boot, ~1 min).
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { copyFileSync, existsSync, readFileSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { assertPartitionsDeployed, cleanup, makeDisk, MiB, workDir } from './fixtures.js';
import { shoalOk } from './cli.js';
import { waitFor } from './processes.js';
import { createLabNet, labLeftovers, type LabNet } from '../../scripts/lab/netns.js';

const ROOT = fileURLToPath(new URL('../../..', import.meta.url));
const CLI = join(ROOT, 'dist/client/cli.js');
const PC_CLI = join(ROOT, 'dist/pc/cli.js');
const BOOT_DIR = join(ROOT, 'dist/boot');
const PORTAL = 'http://10.77.0.1:8080';
const VM_MAC = '52:54:00:5e:00:01';
/** Software emulation is slow: the VM's boot and deploy get this long. */
const VM_TIMEOUT_MS = 10 * 60_000;

const T = suite('network boot');
let lab: LabNet | undefined;
const children: ChildProcess[] = [];
T.after.each(() => {
  for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  lab?.teardown();
  lab = undefined;
});
T.after(() => cleanup());

function ensureBootImage(): void {
  if (existsSync(join(BOOT_DIR, 'initrd.img')) && existsSync(join(BOOT_DIR, 'vmlinuz'))) return;
  execFileSync(process.execPath, [join(ROOT, 'dist/scripts/build-boot-image.js')], { stdio: 'inherit' });
}

/** Lines a child writes, kept for assertions and shown when the test fails. */
function collect(c: ChildProcess): { text: () => string } {
  let text = '';
  c.stdout?.on('data', (d) => (text += d));
  c.stderr?.on('data', (d) => (text += d));
  return { text: () => text };
}

type Firmware = 'bios' | 'uefi-secure-boot';

/**
 * BIOS: qemu's e1000 whose boot ROM is iPXE. UEFI: OVMF with Secure Boot enforced and Microsoft's
 * keys enrolled (Debian's OVMF_VARS_4M.ms.fd), virtio-net without an iPXE ROM, so the firmware's
 * own PXE loads shim, shim loads Debian's signed GRUB, GRUB the signed kernel.
 */
function startVm(firmware: Firmware, tap: string, disk: string, serialLog: string, dir: string): ChildProcess {
  writeFileSync(serialLog, '');
  const common = ['-m', '1536', '-smp', '1', '-display', 'none', '-no-reboot', '-serial', `file:${serialLog}`, '-monitor', 'none', '-netdev', `tap,id=n0,ifname=${tap},script=no,downscript=no`];
  let args: string[];
  if (firmware === 'bios') {
    args = ['-machine', 'pc', ...common, '-device', `e1000,netdev=n0,mac=${VM_MAC}`, '-drive', `file=${disk},format=raw,if=virtio`, '-boot', 'order=n'];
  } else {
    const vars = join(dir, 'OVMF_VARS.fd');
    if (!existsSync(vars)) copyFileSync('/usr/share/OVMF/OVMF_VARS_4M.ms.fd', vars);
    args = ['-machine', 'q35,smm=on', '-global', 'driver=cfi.pflash01,property=secure,value=on', ...common,
      '-drive', 'if=pflash,format=raw,unit=0,readonly=on,file=/usr/share/OVMF/OVMF_CODE_4M.secboot.fd', '-drive', `if=pflash,format=raw,unit=1,file=${vars}`,
      '-device', `virtio-net-pci,netdev=n0,mac=${VM_MAC},romfile=,bootindex=1`, '-drive', `file=${disk},format=raw,if=none,id=d0`, '-device', 'virtio-blk-pci,drive=d0,bootindex=2'];
  }
  const vm = spawn('qemu-system-x86_64', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(vm);
  return vm;
}

async function netbootDeploy(firmware: Firmware): Promise<void> {
  ensureBootImage();
  const dir = workDir();
  const src = makeDisk(dir, 'src.img', 48, 'gpt', [{ sizeMiB: 32, fs: 'ext4', name: 'root' }], 8);
  const store = join(dir, 'store');
  shoalOk('capture', '--disk', src.path, '--store', store, '--image', 'netboot', '--type', 'multipart', '--piece-length', String(256 * 1024));
  lab = createLabNet({ clients: 2, clientMbit: 400, serverMbit: 400 });
  const tap = lab.addTap(0);
  const server = lab.server.spawn(process.execPath, [CLI, 'start', '--data', join(dir, 'data'), '--store', store, '--advertise', lab.server.addr,
    '--pxe', 'eth0', '--dhcp-range', '10.77.0.100,10.77.0.150', '--boot-dir', BOOT_DIR], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, SHOAL_LOG_LEVEL: 'info' } });
  children.push(server);
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
  const vm = startVm(firmware, tap, vmDisk, serial, dir);
  const vmOut = collect(vm);
  const pcs = [0, 1].map((i) => {
    const disk = join(dir, `pc-${i}.img`);
    writeFileSync(disk, '');
    truncateSync(disk, 64 * MiB);
    const c = lab!.clients[i]!.spawn(process.execPath, [PC_CLI, 'join', '--portal', PORTAL, '--disk', disk, '--mac', macs[i + 1]!, '--wait', '30'], { stdio: ['ignore', 'pipe', 'pipe'] });
    children.push(c);
    return { c, out: collect(c), disk };
  });
  const vmExit = await new Promise<number | null>((resolve) => {
    const timer = setTimeout(() => resolve(-1), VM_TIMEOUT_MS);
    vm.once('exit', (code) => {
      clearTimeout(timer);
      resolve(code);
    });
  });
  const vmSeconds = (Date.now() - started) / 1000;
  const said = readFileSync(serial, 'utf8');
  if (vmExit !== 0) console.log(`--- VM serial ---\n${said.slice(-6000)}\n--- qemu ---\n${vmOut.text()}\n--- server ---\n${serverOut.text().slice(-4000)}`);
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
  if (firmware !== 'bios') {
    lab.teardown();
    lab = undefined;
    assert.equal(labLeftovers(), [], 'namespaces, bridge and tap gone');
    return;
  }

  // Booted again with nothing pending: the portal answers "local disk" and no client starts.
  const again = join(dir, 'vm-serial-2.log');
  const vm2 = startVm(firmware, tap, vmDisk, again, dir);
  const before = serverOut.text().length;
  await waitFor('the portal to log the second boot request', 120_000, async () => (/boot request: nothing pending/.test(serverOut.text().slice(before)) ? true : undefined));
  await new Promise((r) => setTimeout(r, 3000));
  vm2.kill('SIGKILL');
  assert.not.match(readFileSync(again, 'utf8'), /running the Shoal client/);
  lab.teardown();
  lab = undefined;
  assert.equal(labLeftovers(), [], 'namespaces, bridge and tap gone');
}

T('a BIOS VM network-boots (iPXE), deploys through the swarm with two PCs, powers off; its disk checks out; booted again with nothing pending it goes to its disk', () => netbootDeploy('bios'));

T('a UEFI VM with Secure Boot enforced network-boots (shim, signed GRUB, signed kernel), deploys through the swarm with two PCs; its disk checks out', () => netbootDeploy('uefi-secure-boot'));

T.run();
