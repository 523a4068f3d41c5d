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
 *   - a UEFI PC is offered shim only while a task waits for it (dnsmasq's hosts file tags it): for
 *     any other, its network boot fails at once and the firmware boots its next entry, the disk.
 *     Handing it the boot loader and asking it to return does not work: a boot option that returns
 *     success makes UEFI firmware stop at its boot menu (the specification's rule; OVMF did), and
 *     Debian's GRUB returns success whatever `exit` is given.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { copyFileSync, existsSync, linkSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { networkInterfaces } from 'node:os';
import { join } from 'node:path';
import { ShoalError } from '../shared/errors.js';
import { logger } from '../shared/log.js';

const log = logger('pxe');

export interface PxeOptions {
  /** The interface PCs' broadcasts arrive on. */
  interface: string;
  /** Full DHCP for an isolated lab: "first,last" addresses handed out. Absent: proxy DHCP. */
  dhcpRange?: string;
}

/** The files Shoal's boot-image build leaves in the boot directory (scripts/build-boot-image.ts). */
export const BOOT_FILES = ['vmlinuz', 'initrd.img', 'undionly.kpxe', 'ipxe.efi', 'bootx64.efi', 'grubx64.efi'] as const;
/** Where Debian's network GRUB looks for grub.cfg on the TFTP server (its built-in prefix). */
const GRUB_DIR = 'grub';
const LEASE = '12h';
/** dnsmasq's tag for a PC with a task waiting (its hosts file, written by the portal). */
const TASK_TAG = 'shoaltask';
export const dhcpHostsFileOf = (dataDir: string): string => join(dataDir, 'dnsmasq-hosts');

/** The hosts file's lines: each PC with a task waiting, tagged. */
export const dhcpHostsText = (macs: string[]): string => [...new Set(macs.map((m) => m.toLowerCase()))].sort().map((m) => `${m},set:${TASK_TAG}\n`).join('');

/** Writes the hosts file; true when it changed (dnsmasq then re-reads it on SIGHUP). */
export function writeDhcpHosts(file: string, macs: string[]): boolean {
  const text = dhcpHostsText(macs);
  if (existsSync(file) && readFileSync(file, 'utf8') === text) return false;
  writeFileSync(file, text);
  return true;
}

export function interfaceAddress(name: string): { address: string; netmask: string } {
  const a = networkInterfaces()[name]?.find((x) => x.family === 'IPv4' && !x.internal);
  if (!a) throw new ShoalError(`--pxe: interface ${name} has no IPv4 address (ip -4 addr show ${name})`);
  return a;
}

function networkOf(address: string, netmask: string): string {
  const n = (s: string) => s.split('.').map(Number);
  return n(address).map((b, i) => b & n(netmask)[i]!).join('.');
}

/** dnsmasq.conf for the lab: no DNS, DHCP (proxy or full) for PXE, TFTP of the first stages. */
export function dnsmasqConfig(o: PxeOptions & { address: string; netmask: string; portalUrl: string; tftpRoot: string; leaseFile: string; hostsFile: string }): string {
  const range = o.dhcpRange ? checkRange(o.dhcpRange) : undefined;
  return [
    '# Written by Shoal (shoal start --pxe) at every start: edits are lost.',
    'port=0',
    `interface=${o.interface}`,
    'bind-interfaces',
    'log-dhcp',
    `dhcp-leasefile=${o.leaseFile}`,
    `dhcp-hostsfile=${o.hostsFile}`,
    range ? `dhcp-range=${range[0]},${range[1]},${o.netmask},${LEASE}` : `dhcp-range=${networkOf(o.address, o.netmask)},proxy,${o.netmask}`,
    ...(range ? ['dhcp-authoritative'] : []),
    'enable-tftp',
    `tftp-root=${o.tftpRoot}`,
    'tftp-secure',
    // Option 93, client architecture: 0 BIOS, 7 and 9 x86-64 UEFI.
    'dhcp-match=set:efi64,option:client-arch,7',
    'dhcp-match=set:efi64,option:client-arch,9',
    'dhcp-match=set:ipxe,175',
    // iPXE asks the portal itself; the portal's script knows the PC by ${net0/mac}.
    `dhcp-boot=tag:ipxe,${o.portalUrl}/boot/ipxe`,
    ...(range ? [
      // Full DHCP answers with the boot file itself: a PXE menu here makes UEFI firmware cancel.
      'dhcp-boot=tag:!ipxe,tag:!efi64,undionly.kpxe',
      `dhcp-boot=tag:!ipxe,tag:efi64,tag:${TASK_TAG},bootx64.efi`,
    ] : [
      // Proxy DHCP answers only with PXE boot services (dhcp-boot is not sent): iPXE too gets its
      // URL as one. A name with a suffix is sent as it is (no ".0" appended).
      `pxe-service=tag:ipxe,x86PC,"Shoal",${o.portalUrl}/boot/ipxe`,
      `pxe-service=tag:ipxe,X86-64_EFI,"Shoal",${o.portalUrl}/boot/ipxe`,
      'pxe-service=tag:!ipxe,x86PC,"Shoal (BIOS)",undionly.kpxe',
      `pxe-service=tag:!ipxe,tag:${TASK_TAG},X86-64_EFI,"Shoal (UEFI)",bootx64.efi`,
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
 * GRUB's configuration on the UEFI path. Debian's network GRUB reads only grub.cfg (it does not
 * look for a file per MAC itself), so grub.cfg looks for the PC's own file, which the portal
 * writes while a task waits for that PC (syncBootHosts). A PC gets GRUB only then (see the top);
 * one whose task ended between its DHCP and its GRUB finds no file and returns to the firmware,
 * asking for an error (`exit 1`, which firmware would take as "try the next entry"), though
 * Debian 12's GRUB returns success anyway and OVMF then shows its boot menu: a rare race.
 */
export function grubConfig(): string {
  return [
    '# Written by Shoal at every start.',
    'set timeout=0',
    // Not `[ -f … ]`: GRUB's TFTP cannot list, so that test is always false. A missing file fails the source and falls through.
    'source "$prefix/hosts/$net_default_mac.cfg"',
    'echo "Shoal: nothing to do for this PC, booting from its disk"',
    'exit 1',
    '',
  ].join('\n');
}

/** The per-host GRUB entry: Shoal's client with the host's key, kernel and initramfs over TFTP. */
export function grubHostConfig(cmdline: string): string {
  return [
    '# Written by Shoal while a task waits for this PC; removed when its part is over.',
    'echo "Shoal: starting the client"',
    `linux /vmlinuz ${cmdline}`,
    'initrd /initrd.img',
    'boot',
    '',
  ].join('\n');
}

/** GRUB's $net_default_mac: lower case, colons. */
export const grubHostFile = (mac: string): string => `${mac.toLowerCase()}.cfg`;

/** Makes the TFTP root's per-host GRUB files exactly `want` (file name → content). */
export function writeGrubHosts(tftpRoot: string, want: Map<string, string>): void {
  const at = join(tftpRoot, GRUB_DIR, 'hosts');
  mkdirSync(at, { recursive: true });
  for (const f of readdirSync(at)) if (!want.has(f)) rmSync(join(at, f), { force: true });
  for (const [f, text] of want) {
    const path = join(at, f);
    if (!existsSync(path) || readFileSync(path, 'utf8') !== text) writeFileSync(path, text);
  }
}

/** Refuses a boot directory without the boot image, before anything starts. */
export function checkBootFiles(bootDir: string): void {
  const missing = BOOT_FILES.filter((f) => !existsSync(join(bootDir, f)));
  if (missing.length) throw new ShoalError(`--pxe: ${bootDir} lacks ${missing.join(', ')}: build the boot image first (npm run build:boot)`);
}

/** Lays out the TFTP root from the boot directory; hard links where the filesystem allows. */
export function prepareTftpRoot(bootDir: string, tftpRoot: string): void {
  checkBootFiles(bootDir);
  rmSync(tftpRoot, { recursive: true, force: true });
  mkdirSync(join(tftpRoot, GRUB_DIR), { recursive: true });
  writeFileSync(join(tftpRoot, GRUB_DIR, 'grub.cfg'), grubConfig());
  for (const f of BOOT_FILES) {
    try {
      linkSync(join(bootDir, f), join(tftpRoot, f));
    } catch {
      copyFileSync(join(bootDir, f), join(tftpRoot, f));
    }
  }
}

/** Starts dnsmasq in the foreground as the portal's child; rejects when it cannot start. */
export const tftpRootOf = (dataDir: string): string => join(dataDir, 'tftp');

export async function startDnsmasq(o: PxeOptions & { portalUrl: string; bootDir: string; dataDir: string }): Promise<ChildProcess> {
  const { address, netmask } = interfaceAddress(o.interface);
  const tftpRoot = tftpRootOf(o.dataDir);
  prepareTftpRoot(o.bootDir, tftpRoot);
  const conf = join(o.dataDir, 'dnsmasq.conf');
  const hostsFile = dhcpHostsFileOf(o.dataDir);
  writeFileSync(hostsFile, '');
  writeFileSync(conf, dnsmasqConfig({ ...o, address, netmask, tftpRoot, leaseFile: join(o.dataDir, 'dnsmasq.leases'), hostsFile }));
  const child = spawn('dnsmasq', ['--keep-in-foreground', '--log-facility=-', `--conf-file=${conf}`, '--user=root'], { stdio: ['ignore', 'inherit', 'pipe'] });
  let said = '';
  child.stderr!.on('data', (d: Buffer) => {
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
