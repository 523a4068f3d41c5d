/**
 * Boots a disk-image file in a virtual PC and waits for the test OS (debian-disk.ts) to say it is
 * up: the evidence that a disk, as captured or as deployed, still boots by itself from its own
 * boot sectors, ESP and filesystems. No network, no kernel handed to qemu: only the firmware and
 * the disk. Software emulation (no KVM on these machines), so a boot takes about a minute.
 *   BIOS: qemu's SeaBIOS reads the MBR, GRUB's core image, the root's /boot/grub.
 *   UEFI with Secure Boot enforced: OVMF with Microsoft's keys enrolled loads shim from the ESP,
 *   shim Debian's signed GRUB, GRUB the signed kernel; anything unsigned is refused.
 */
import { spawn } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export type TestOsFirmware = 'bios' | 'uefi-secure-boot';

export interface BootResult {
  /** The key=value pairs of the guest's SHOAL-OS-UP line. */
  report: Record<string, string>;
  /** Everything the serial console showed: firmware, GRUB, kernel, systemd, the report. */
  serial: string;
  /** From starting qemu to the report line. */
  seconds: number;
  /** The guest powered itself off after reporting (qemu exited on its own). */
  poweredOff: boolean;
}

const OVMF_CODE = '/usr/share/OVMF/OVMF_CODE_4M.secboot.fd';
/** OVMF's variables with Microsoft's keys enrolled: Secure Boot on, as on a lab PC. Copied per VM. */
export const OVMF_VARS_MS = '/usr/share/OVMF/OVMF_VARS_4M.ms.fd';
const MARKER = 'SHOAL-OS-UP';
const POLL_MS = 250;
/** After the report the guest shuts down; that gets this long before qemu is killed. */
const POWEROFF_GRACE_MS = 60_000;
let serials = 0;

/** The SHOAL-OS-UP line's pairs, once the whole line is on the console. */
export function parseReport(serial: string): Record<string, string> | undefined {
  const m = new RegExp(`${MARKER} ([^\\r\\n]*)\\r?\\n`).exec(serial);
  if (!m) return undefined;
  const report: Record<string, string> = {};
  for (const [, k, v] of m[1]!.matchAll(/(\S+?)=(\S*)/g)) report[k!] = v!;
  return report;
}

/**
 * Whether the kernel found Secure Boot enforced by the firmware: Debian's kernel says so on the
 * console ("secureboot: Secure boot enabled") and locks itself down because of it.
 */
export function secureBootEnforced(serial: string): boolean {
  return /secureboot: Secure boot enabled/.test(serial) && /Kernel is locked down from EFI Secure Boot/.test(serial);
}

/** A q35 machine with OVMF, Secure Boot enforced, and its variables in `varsFile` (the VM's own copy). */
export const secureUefiMachine = (varsFile: string): string[] => [
  '-machine',
  'q35,smm=on',
  '-global',
  'driver=cfi.pflash01,property=secure,value=on',
  '-drive',
  `if=pflash,format=raw,unit=0,readonly=on,file=${OVMF_CODE}`,
  '-drive',
  `if=pflash,format=raw,unit=1,file=${varsFile}`,
];

/** The disk file's format: a raw image, or a virtual-machine disk as `shoal export` writes it. */
export type TestOsDiskFormat = 'raw' | 'qcow2' | 'vmdk' | 'vpc' | 'vhdx';

export function qemuArgs(o: { disk: string; firmware: TestOsFirmware; serialLog: string; varsFile?: string; format?: TestOsDiskFormat }): string[] {
  const format = o.format ?? 'raw';
  const common = [
    '-m',
    '1024',
    '-smp',
    '1',
    '-display',
    'none',
    '-no-reboot',
    '-nic',
    'none',
    '-serial',
    `file:${o.serialLog}`,
    '-monitor',
    'none',
    '-parallel',
    'none',
  ];
  if (o.firmware === 'bios') return ['-machine', 'pc', ...common, '-drive', `file=${o.disk},format=${format},if=virtio`];
  return [
    ...secureUefiMachine(o.varsFile!),
    ...common,
    '-drive',
    `file=${o.disk},format=${format},if=none,id=d0`,
    '-device',
    'virtio-blk-pci,drive=d0,bootindex=1',
  ];
}

/**
 * Powers on a VM with `disk` (raw unless `format` says otherwise; written to by the guest: pass a copy) as its only disk and
 * resolves with the guest's report. Rejects with the serial console's tail when the report does
 * not come within `timeoutMs` or qemu exits without it. qemu never outlives the call.
 * `varsFile`: the UEFI variables to use (made from the template with Microsoft's keys when it does
 * not exist); default a fresh copy in workDir.
 */
export async function bootDisk(o: {
  disk: string;
  firmware: TestOsFirmware;
  timeoutMs: number;
  workDir: string;
  varsFile?: string;
  format?: TestOsDiskFormat;
}): Promise<BootResult> {
  mkdirSync(o.workDir, { recursive: true });
  const serialLog = join(o.workDir, `serial-${process.pid}-${++serials}.log`);
  writeFileSync(serialLog, '');
  let varsFile: string | undefined;
  if (o.firmware === 'uefi-secure-boot') {
    varsFile = o.varsFile ?? join(o.workDir, `OVMF_VARS-${process.pid}-${serials}.fd`);
    if (o.varsFile === undefined || !existsSync(varsFile)) copyFileSync(OVMF_VARS_MS, varsFile);
  }
  const start = Date.now();
  const child = spawn('qemu-system-x86_64', qemuArgs({ disk: o.disk, firmware: o.firmware, serialLog, varsFile, format: o.format }), {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let qemuSaid = '';
  child.stderr.on('data', (d: Buffer) => (qemuSaid += d.toString()));
  let exited = false;
  const exit = new Promise<void>((resolve) => {
    child.once('exit', () => {
      exited = true;
      resolve();
    });
    child.once('error', (e) => {
      qemuSaid += String(e);
      exited = true;
      resolve();
    });
  });
  const serial = () => readFileSync(serialLog, 'utf8');
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
  try {
    let report: Record<string, string> | undefined;
    // Bounded by timeoutMs, or by qemu exiting.
    while (!(report = parseReport(serial())) && !exited && Date.now() - start < o.timeoutMs) await sleep(POLL_MS);
    const seconds = (Date.now() - start) / 1000;
    if (!report) {
      const why = exited ? `qemu exited (${child.exitCode ?? child.signalCode}) without it` : `not within ${o.timeoutMs / 1000} s`;
      throw new Error(
        `${o.disk} (${o.firmware}): no ${MARKER} line, ${why}.${qemuSaid ? `\nqemu: ${qemuSaid.trim()}` : ''}\nserial console (${serialLog}) ends:\n${serial().slice(-4000)}`,
      );
    }
    let grace: NodeJS.Timeout | undefined;
    await Promise.race([exit, new Promise((r) => (grace = setTimeout(r, POWEROFF_GRACE_MS)))]);
    clearTimeout(grace);
    return { report, serial: serial(), seconds, poweredOff: exited };
  } finally {
    if (!exited) {
      child.kill('SIGKILL');
      await exit;
    }
  }
}
