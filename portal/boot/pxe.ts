/**
 * Network boot for `shoal start --pxe`: Debian's dnsmasq answers PCs' PXE DHCP requests and serves
 * the first stage over TFTP; everything after it comes from the portal over HTTP.
 *   - proxy DHCP by default: the lab's own DHCP server keeps handing out addresses, dnsmasq only
 *     adds the boot server and file (a lab keeps its network as it is); full DHCP with a range for
 *     an isolated lab;
 *   - the first stage by the PC's architecture (DHCP option 93): undionly.kpxe for BIOS, for UEFI
 *     shim → Debian's signed GRUB (Secure Boot on or off); iPXE itself (option 175, as qemu's and
 *     many NICs' ROMs are) goes straight to the portal's script over HTTP;
 *   - GRUB's network build in Debian 12 has no HTTP, so on that path kernel and initramfs come over
 *     TFTP, and grub.cfg sources a per-host file the portal writes while a task waits for the PC;
 *   - a UEFI PC gets shim only while a task waits for it: dnsmasq serves each PC's TFTP requests
 *     from a directory of its own when there is one (tftp-unique-root=mac), the portal keeps one
 *     (boot files and the PC's GRUB configuration, as hard links) for each PC with a task, and the
 *     shared root has no shim. Any other UEFI PC's network boot fails at once ("not found") and its
 *     firmware boots its next entry, the disk. Handing it the boot loader and asking it to return
 *     does not work: a boot option that returns success makes UEFI firmware stop at its boot menu
 *     (the specification's rule; OVMF did), and Debian's GRUB returns success whatever `exit` is
 *     given. (Tagging the PCs in a dnsmasq hosts file re-read on SIGHUP was tried first: dnsmasq
 *     2.90 aborted on such a reload in the network-boot test.)
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { copyFileSync, existsSync, linkSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { networkInterfaces } from 'node:os';
import { join } from 'node:path';
import { ShoalError } from '../../shared/errors.js';
import { logger } from '../../shared/log.js';
import type { PxeOptions } from '../config.js';

const log = logger('pxe');

/** The files Shoal's boot-image build leaves in the boot directory (scripts/build-boot-image.ts). */
export const BOOT_FILES = ['vmlinuz', 'initrd.img', 'undionly.kpxe', 'ipxe.efi', 'bootx64.efi', 'grubx64.efi'] as const;
/** Where Debian's network GRUB looks for grub.cfg on the TFTP server (its built-in prefix). */
const GRUB_DIR = 'grub';
const LEASE = '12h';
/** The first stage of UEFI PCs: only in the directories of PCs with a task, never in the shared root. */
const UEFI_FIRST_STAGE = 'bootx64.efi';
/** Where the boot files wait outside the TFTP root, to be linked into each PC's directory. */

export const bootFilesOf = (dataDir: string): string => join(dataDir, 'boot-files');

export function interfaceAddress(name: string): { address: string; netmask: string } {
  const a = networkInterfaces()[name]?.find((x) => x.family === 'IPv4' && !x.internal);
  if (!a) throw new ShoalError(`--pxe: interface ${name} has no IPv4 address (ip -4 addr show ${name})`);
  return a;
}

function networkOf(address: string, netmask: string): string {
  const n = (s: string) => s.split('.').map(Number);
  return n(address)
    .map((b, i) => b & n(netmask)[i]!)
    .join('.');
}

/** dnsmasq.conf for the lab: no DNS, DHCP (proxy or full) for PXE, TFTP of the first stages. */
export function dnsmasqConfig(o: PxeOptions & { address: string; netmask: string; portalUrl: string; tftpRoot: string; leaseFile: string }): string {
  const range = o.dhcpRange ? checkRange(o.dhcpRange) : undefined;
  return [
    '# Written by Shoal (shoal start --pxe) at every start: edits are lost.',
    'port=0',
    `interface=${o.interface}`,
    'bind-interfaces',
    'log-dhcp',
    `dhcp-leasefile=${o.leaseFile}`,
    range ? `dhcp-range=${range[0]},${range[1]},${o.netmask},${LEASE}` : `dhcp-range=${networkOf(o.address, o.netmask)},proxy,${o.netmask}`,
    ...(range ? ['dhcp-authoritative'] : []),
    'enable-tftp',
    `tftp-root=${o.tftpRoot}`,
    'tftp-secure',
    // A PC's requests come from TFTP_ROOT/52-54-00-…/ (its MAC) when that exists (the portal's, while a task waits for it).
    'tftp-unique-root=mac',
    // Option 93, client architecture: 0 BIOS, 7 and 9 x86-64 UEFI.
    'dhcp-match=set:efi64,option:client-arch,7',
    'dhcp-match=set:efi64,option:client-arch,9',
    'dhcp-match=set:ipxe,175',
    // iPXE asks the portal itself; the portal's script knows the PC by ${net0/mac}.
    `dhcp-boot=tag:ipxe,${o.portalUrl}/boot/ipxe`,
    ...(range
      ? [
          // Full DHCP answers with the boot file itself: a PXE menu here makes UEFI firmware cancel.
          'dhcp-boot=tag:!ipxe,tag:!efi64,undionly.kpxe',
          'dhcp-boot=tag:!ipxe,tag:efi64,bootx64.efi',
        ]
      : [
          // Proxy DHCP answers only with PXE boot services (dhcp-boot is not sent): iPXE too gets its
          // URL as one. A name with a suffix is sent as it is (no ".0" appended).
          `pxe-service=tag:ipxe,x86PC,"Shoal",${o.portalUrl}/boot/ipxe`,
          `pxe-service=tag:ipxe,X86-64_EFI,"Shoal",${o.portalUrl}/boot/ipxe`,
          'pxe-service=tag:!ipxe,x86PC,"Shoal (BIOS)",undionly.kpxe',
          'pxe-service=tag:!ipxe,X86-64_EFI,"Shoal (UEFI)",bootx64.efi',
        ]),
    '',
  ].join('\n');
}

function checkRange(r: string): [string, string] {
  const parts = r.split(',').map((s) => s.trim());
  const ipv4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;
  if (parts.length !== 2 || !parts.every((p) => ipv4.test(p) && p.split('.').every((b) => Number(b) <= 255))) {
    throw new ShoalError(`--dhcp-range ${r}: give the first and last address, as 10.0.0.100,10.0.0.200`);
  }
  return [parts[0]!, parts[1]!];
}

/**
 * The shared root's grub.cfg. A PC with a task reads its own (in its directory: grubHostConfig);
 * this one is read only by a PC whose task ended between its shim and its GRUB. It returns to the
 * firmware asking for an error (`exit 1`, which firmware would take as "try the next entry"),
 * though Debian 12's GRUB returns success anyway and OVMF then shows its boot menu: a rare race.
 */
export function grubConfig(): string {
  return ['# Written by Shoal at every start.', 'echo "Shoal: nothing to do for this PC, booting from its disk"', 'exit 1', ''].join('\n');
}

/** A PC's own grub.cfg: Shoal's client with the host's key, kernel and initramfs over TFTP. */
export function grubHostConfig(cmdline: string): string {
  return [
    '# Written by Shoal while a task waits for this PC; removed when its part is over.',
    'set timeout=0',
    'echo "Shoal: starting the client"',
    `linux /vmlinuz ${cmdline}`,
    'initrd /initrd.img',
    'boot',
    '',
  ].join('\n');
}

/** The directory dnsmasq serves a PC's TFTP requests from (tftp-unique-root=mac): the MAC, lower case, with dashes. */
export const pcTftpDir = (mac: string): string => mac.toLowerCase().replace(/:/g, '-');
const PC_DIR = /^([0-9a-f]{2}-){5}[0-9a-f]{2}$/;

const link = (from: string, to: string): void => {
  try {
    linkSync(from, to);
  } catch {
    copyFileSync(from, to);
  }
};

/** Replaces a small file whole (a TFTP read never sees it half-written). */
function writeWhole(path: string, text: string): void {
  if (existsSync(path) && readFileSync(path, 'utf8') === text) return;
  writeFileSync(`${path}.new`, text);
  renameSync(`${path}.new`, path);
}

/**
 * Makes the TFTP root's per-PC directories exactly `want` (MAC → GRUB configuration): each holds
 * the boot files (hard links) and its PC's grub/grub.cfg, so that PC, and only it, can boot shim
 * and the client; a directory whose PC's part is over goes.
 */
export function writePcBootDirs(tftpRoot: string, bootFiles: string, want: Map<string, string>): void {
  const dirs = new Map([...want].map(([mac, cfg]) => [pcTftpDir(mac), cfg]));
  for (const d of readdirSync(tftpRoot)) if (PC_DIR.test(d) && !dirs.has(d)) rmSync(join(tftpRoot, d), { recursive: true, force: true });
  for (const [d, cfg] of dirs) {
    const at = join(tftpRoot, d);
    if (!existsSync(join(at, GRUB_DIR))) {
      mkdirSync(join(at, GRUB_DIR), { recursive: true });
      for (const f of BOOT_FILES) link(join(bootFiles, f), join(at, f));
    }
    writeWhole(join(at, GRUB_DIR, 'grub.cfg'), cfg);
  }
}

/** Refuses a boot directory without the boot image, before anything starts. */
export function checkBootFiles(bootDir: string): void {
  const missing = BOOT_FILES.filter((f) => !existsSync(join(bootDir, f)));
  if (missing.length) throw new ShoalError(`--pxe: ${bootDir} lacks ${missing.join(', ')}: build the boot image first (npm run build:boot)`);
}

/**
 * Lays out the TFTP root from the boot directory (hard links where the filesystem allows): every
 * first stage but UEFI's, which only the PCs with a task find, in their own directories.
 */
export function prepareTftpRoot(bootDir: string, tftpRoot: string, bootFiles: string): void {
  checkBootFiles(bootDir);
  rmSync(tftpRoot, { recursive: true, force: true });
  rmSync(bootFiles, { recursive: true, force: true });
  mkdirSync(join(tftpRoot, GRUB_DIR), { recursive: true });
  mkdirSync(bootFiles, { recursive: true });
  writeFileSync(join(tftpRoot, GRUB_DIR, 'grub.cfg'), grubConfig());
  for (const f of BOOT_FILES) {
    link(join(bootDir, f), join(bootFiles, f));
    if (f !== UEFI_FIRST_STAGE) link(join(bootFiles, f), join(tftpRoot, f));
  }
}

/** Starts dnsmasq in the foreground as the portal's child; rejects when it cannot start. */
export const tftpRootOf = (dataDir: string): string => join(dataDir, 'tftp');

export async function startDnsmasq(o: PxeOptions & { portalUrl: string; bootDir: string; dataDir: string }): Promise<ChildProcess> {
  const { address, netmask } = interfaceAddress(o.interface);
  const tftpRoot = tftpRootOf(o.dataDir);
  prepareTftpRoot(o.bootDir, tftpRoot, bootFilesOf(o.dataDir));
  const conf = join(o.dataDir, 'dnsmasq.conf');
  writeFileSync(conf, dnsmasqConfig({ ...o, address, netmask, tftpRoot, leaseFile: join(o.dataDir, 'dnsmasq.leases') }));
  const child = spawn('dnsmasq', ['--keep-in-foreground', '--log-facility=-', `--conf-file=${conf}`, '--user=root'], { stdio: ['ignore', 'ignore', 'pipe'] });
  let said = '';
  child.stderr.on('data', (d: Buffer) => {
    said += d.toString();
    process.stderr.write(d);
  });
  await new Promise<void>((resolve, reject) => {
    child.once('error', (err) => reject(new ShoalError(`--pxe: dnsmasq did not start (${err.message}); it comes with Debian's dnsmasq-base`)));
    child.once('exit', (code) => reject(new ShoalError(`--pxe: dnsmasq exited (${code}): ${said.trim().split('\n').pop() ?? ''}`)));
    // dnsmasq says nothing when all is well: alive after a moment means it bound its ports.
    setTimeout(resolve, 500);
  });
  log.info({ interface: o.interface, mode: o.dhcpRange ? `DHCP ${o.dhcpRange}` : 'proxy DHCP', tftpRoot }, 'PXE boot server up');
  return child;
}
