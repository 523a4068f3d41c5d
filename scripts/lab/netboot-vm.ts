/**
 * Virtual PCs that network-boot on the lab simulator's bridge (qemu, software emulation: KVM does
 * not work on these machines), and a lab server with `--pxe` for them. Used by the network-boot
 * tests and `npm run bench:boot`.
 *   BIOS: qemu's e1000, whose boot ROM is iPXE.
 *   UEFI with Secure Boot: OVMF with Microsoft's keys enrolled and Secure Boot enforced (Debian's
 *   OVMF_VARS_4M.ms.fd), virtio-net without an iPXE ROM, so the firmware's own PXE loads shim,
 *   shim Debian's signed GRUB, GRUB the signed kernel.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { copyFileSync, existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { LabNet } from './netns.js';
import { bootInputsHash } from '../boot-inputs.js';
import { OVMF_VARS_MS, secureUefiMachine } from '../test-os/boot-vm.js';

export type Firmware = 'bios' | 'uefi-secure-boot';
export const FIRMWARES: Firmware[] = ['bios', 'uefi-secure-boot'];

const ROOT = fileURLToPath(new URL('../../..', import.meta.url));
const CLI = join(ROOT, 'dist/client/cli.js');
export const BOOT_DIR = join(ROOT, 'dist/boot');
export const PORTAL_PORT = 8080;
/** Handed out by the lab server's dnsmasq; the namespace hosts sit below it. */
const DHCP_RANGE = '10.77.0.100,10.77.0.150';
const VM_MEMORY_MIB = 1536;

export interface Vm {
  child: ChildProcess;
  serialLog: string;
  serial(): string;
  /** What qemu itself wrote to stderr. */
  qemuSaid(): string;
  exited: Promise<number | null>;
}

/**
 * Powers on a VM whose first NIC (MAC `mac`) is on `tap` and whose disk is the raw file `disk`.
 * `directCmdline`: boot Shoal's kernel directly with this command line (BIOS machine), no PXE.
 */
export function startVm(o: {
  firmware: Firmware;
  tap: string;
  mac: string;
  disk: string;
  serialLog: string;
  dir: string;
  directCmdline?: string;
  bootOrder?: 'network-first' | 'firmware';
}): Vm {
  writeFileSync(o.serialLog, '');
  const common = [
    '-m',
    String(VM_MEMORY_MIB),
    '-smp',
    '1',
    '-display',
    'none',
    '-no-reboot',
    '-serial',
    `file:${o.serialLog}`,
    '-monitor',
    'none',
    '-netdev',
    `tap,id=n0,ifname=${o.tap},script=no,downscript=no`,
  ];
  let args: string[];
  if (o.directCmdline !== undefined) {
    // The reference: the same kernel and initramfs handed to qemu directly, no firmware network boot.
    args = [
      '-machine',
      'pc',
      ...common,
      '-device',
      `e1000,netdev=n0,mac=${o.mac}`,
      '-drive',
      `file=${o.disk},format=raw,if=virtio`,
      '-kernel',
      join(BOOT_DIR, 'vmlinuz'),
      '-initrd',
      join(BOOT_DIR, 'initrd.img'),
      '-append',
      o.directCmdline,
    ];
  } else if (o.firmware === 'bios') {
    args = ['-machine', 'pc', ...common, '-device', `e1000,netdev=n0,mac=${o.mac}`, '-drive', `file=${o.disk},format=raw,if=virtio`, '-boot', 'order=n'];
  } else {
    // The firmware's variables are per VM: copy the template with the keys enrolled. With boot
    // indexes OVMF puts the network first and writes that order to the variables, as an admin sets a
    // lab PC up; without them (`bootOrder: 'firmware'`) it boots by the order in its variables, as a
    // real PC does, whatever the client changed there.
    const network1st = o.bootOrder !== 'firmware';
    const vars = join(o.dir, `OVMF_VARS-${o.mac.replace(/:/g, '')}.fd`);
    if (!existsSync(vars)) copyFileSync(OVMF_VARS_MS, vars);
    args = [
      ...secureUefiMachine(vars),
      ...common,
      '-device',
      `virtio-net-pci,netdev=n0,mac=${o.mac},romfile=${network1st ? ',bootindex=1' : ''}`,
      '-drive',
      `file=${o.disk},format=raw,if=none,id=d0`,
      '-device',
      `virtio-blk-pci,drive=d0${network1st ? ',bootindex=2' : ''}`,
    ];
  }
  const child = spawn('qemu-system-x86_64', args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let said = '';
  child.stderr.on('data', (d: Buffer) => (said += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, serialLog: o.serialLog, serial: () => readFileSync(o.serialLog, 'utf8'), qemuSaid: () => said, exited };
}

/**
 * `shoal start --pxe` in the lab's server namespace: full DHCP (the lab bridge has no other
 * server), or proxy DHCP beside a lab DHCP server (startLabDhcp).
 */
export function startPxeServer(lab: LabNet, o: { data: string; store: string; dhcp: 'full' | 'proxy'; env?: NodeJS.ProcessEnv }): ChildProcess {
  // Its own process group: stopServer takes portal, tracker, seeder and dnsmasq down with it, even
  // when `shoal start` itself cannot be asked (a process left in a deleted namespace runs on, and
  // one holding the test's stderr pipe keeps the test runner from exiting).
  return lab.server.spawn(
    process.execPath,
    [
      CLI,
      'start',
      '--data',
      o.data,
      '--store',
      o.store,
      '--advertise',
      lab.server.addr,
      '--pxe',
      'eth0',
      ...(o.dhcp === 'full' ? ['--dhcp-range', DHCP_RANGE] : []),
      '--boot-dir',
      BOOT_DIR,
    ],
    { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...o.env }, detached: true },
  );
}

const STOP_GRACE_MS = 5_000;

/** Live (not zombie) processes of a process group, from /proc. */
export function groupMembers(pgid: number): number[] {
  const live: number[] = [];
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    try {
      // pid (comm) state ppid pgrp ...: comm may hold spaces, so read after its closing parenthesis.
      const stat = readFileSync(`/proc/${e}/stat`, 'utf8');
      const [state, , pgrp] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(pgrp) === pgid && state !== 'Z') live.push(Number(e));
    } catch {
      /* gone meanwhile */
    }
  }
  return live;
}

/** SIGTERM to the server's process group (shoal start stops its children), SIGKILL to what is left after a grace period. */
export async function stopServer(server: ChildProcess): Promise<void> {
  const pgid = server.pid!;
  const signal = (s: NodeJS.Signals) => {
    try {
      process.kill(-pgid, s);
    } catch {
      /* the group is gone */
    }
  };
  signal('SIGTERM');
  const deadline = Date.now() + STOP_GRACE_MS;
  // Bounded by STOP_GRACE_MS.
  while (Date.now() < deadline && groupMembers(pgid).length) await new Promise((r) => setTimeout(r, 100));
  if (groupMembers(pgid).length) signal('SIGKILL');
}

/** A lab's own DHCP server, addresses only (plain dnsmasq), in one of the lab's hosts: what proxy DHCP sits beside. */
export function startLabDhcp(host: LabNet['clients'][number], dir: string): ChildProcess {
  return host.spawn(
    'dnsmasq',
    [
      '--keep-in-foreground',
      '--conf-file=/dev/null',
      '--port=0',
      '--interface=eth0',
      '--bind-interfaces',
      '--user=root',
      `--dhcp-range=${DHCP_RANGE},12h`,
      `--dhcp-leasefile=${join(dir, 'lab-dhcp.leases')}`,
      '--log-facility=-',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
}

/** Builds the boot image (scripts/build-boot-image.ts) when it is missing or was made of other inputs. */
export function ensureBootImage(): void {
  let recorded: string | undefined;
  try {
    recorded = (JSON.parse(readFileSync(join(BOOT_DIR, 'VERSION'), 'utf8')) as { inputs?: string }).inputs;
  } catch {
    /* not built */
  }
  if (recorded === bootInputsHash(ROOT) && existsSync(join(BOOT_DIR, 'initrd.img'))) return;
  execFileSync(process.execPath, [join(ROOT, 'dist/scripts/build-boot-image.js')], { stdio: ['ignore', 'inherit', 'inherit'] });
}

export const portalOf = (lab: LabNet): string => `http://${lab.server.addr}:${PORTAL_PORT}`;
