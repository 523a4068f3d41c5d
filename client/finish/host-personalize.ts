/**
 * Per-host identity after a deploy, from the portal's host record: 200 PCs deployed from one image
 * would otherwise share the reference PC's name, and Linux ones its machine-id too (systemd derives
 * DHCP client identifiers and journal ids from it, so DHCP servers and log collectors see one PC).
 *   Linux: /etc/hostname, the 127.0.1.1 line of /etc/hosts, a fresh /etc/machine-id (and D-Bus's
 *          copy when it is a file of its own).
 *   Windows: the computer name in the SYSTEM hive, offline (hivexsh), in the control set Select
 *          names: ComputerName\ComputerName, and Tcpip's Hostname and NV Hostname.
 * Nothing is written outside the deployed filesystems: a symbolic link on the way (an absolute one
 * would point into the client's own system) is refused, and the hostname is checked again here,
 * since it lands in files other programs parse line by line.
 */
import { constants } from 'node:fs';
import { lstat, mkdtemp, open, readFile, readdir, rmdir } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ShoalError } from '../../shared/errors.js';
import { isHostname } from '../../shared/http/api.js';
import { logger } from '../../shared/log.js';
import { run } from '../disk/exec.js';
import { probeDisk } from '../disk/device.js';
import { readTable, isExtended } from '../disk/partition-table.js';
import { withLoop } from '../disk/loop.js';
import { detectFilesystem } from '../disk/filesystems.js';

const log = logger('identity');

/** A NetBIOS computer name has at most 15 characters; Windows keeps the full name as the DNS host name. */
const NETBIOS_MAX = 15;

export interface Personalized {
  disk: string;
  partition: number;
  system: 'linux' | 'windows';
  /** What was written, for the log and the report. */
  changed: string[];
}

const LINUX_FILESYSTEMS = new Set(['ext2', 'ext3', 'ext4', 'xfs', 'btrfs']);

/** Each Linux root and Windows system partition on the disks gets the host's name. */
export async function personalizeDisks(disks: string[], hostname: string): Promise<Personalized[]> {
  if (!isHostname(hostname))
    throw new ShoalError(
      `the host name ${JSON.stringify(hostname)} is not a valid host name (letters, digits, - and . only): not written to the deployed system`,
    );
  const done: Personalized[] = [];
  for (const disk of disks) {
    const info = await probeDisk(disk);
    const table = await readTable(disk, info.logicalSectorBytes);
    for (const p of table.partitions) {
      if (isExtended(table.kind, p.type)) continue;
      const r = await withLoop(disk, p.startBytes, p.sizeBytes, async (dev) => {
        const fs = (await detectFilesystem(dev)).filesystem;
        if (LINUX_FILESYSTEMS.has(fs)) return withMount(dev, ['mount', '-t', fs, dev], (root) => personalizeLinux(root, hostname));
        if (fs === 'ntfs') return withMount(dev, ['ntfs-3g', dev], (root) => personalizeWindows(root, hostname));
        return undefined;
      });
      if (r) {
        done.push({ disk, partition: p.number, ...r });
        log.info({ disk, partition: p.number, system: r.system, changed: r.changed }, `${r.system} on partition ${p.number} is now ${hostname}`);
      }
    }
  }
  return done;
}

async function withMount<T>(dev: string, cmd: string[], fn: (root: string) => Promise<T>): Promise<T> {
  const root = await mkdtemp(join(tmpdir(), 'shoal-identity-'));
  try {
    await run(cmd[0]!, [...cmd.slice(1), root]);
    try {
      return await fn(root);
    } finally {
      await run('umount', [root]);
    }
  } finally {
    await rmdir(root).catch(() => {});
  }
}

/** The path's components below root, each a real directory or file, none a link; undefined when one is missing. */
async function insideRoot(root: string, parts: string[], last: 'file' | 'dir'): Promise<string | undefined> {
  let at = root;
  for (const [i, part] of parts.entries()) {
    at = join(at, part);
    let st;
    try {
      st = await lstat(at);
    } catch {
      return undefined;
    }
    if (st.isSymbolicLink()) throw new ShoalError(`${parts.slice(0, i + 1).join('/')} on the deployed system is a symbolic link: refusing to follow it`);
    const wantDir = i < parts.length - 1 || last === 'dir';
    if (wantDir ? !st.isDirectory() : !st.isFile()) return undefined;
  }
  return at;
}

/** Replaces a file's content in place, never through a link (O_NOFOLLOW), keeping its owner and mode. */
async function rewrite(path: string, content: string): Promise<void> {
  const fh = await open(path, constants.O_WRONLY | constants.O_TRUNC | constants.O_NOFOLLOW);
  try {
    await fh.writeFile(content);
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** /etc/hosts with the host's own line (Debian's 127.0.1.1) naming it, added after localhost when missing. */
export function hostsWithName(hosts: string, hostname: string): string {
  const lines = hosts.split('\n');
  const own = `127.0.1.1\t${hostname}`;
  let found = false;
  const out = lines.map((l) => (/^\s*127\.0\.1\.1\s/.test(l) ? ((found = true), own) : l));
  if (!found) {
    const at = out.findIndex((l) => /^\s*127\.0\.0\.1\s/.test(l));
    out.splice(at + 1, 0, own);
  }
  return out.join('\n');
}

async function personalizeLinux(root: string, hostname: string): Promise<Omit<Personalized, 'disk' | 'partition'> | undefined> {
  const etc = await insideRoot(root, ['etc'], 'dir');
  // A Linux root: /etc with an os-release (a link to ../usr/lib/os-release on Debian) or a hostname.
  if (!etc || !(await readdir(etc)).some((f) => f === 'os-release' || f === 'hostname')) return undefined;
  const changed: string[] = [];
  const hostnameFile = join(etc, 'hostname');
  if (await insideRoot(root, ['etc', 'hostname'], 'file')) await rewrite(hostnameFile, `${hostname}\n`);
  else await writeNew(hostnameFile, `${hostname}\n`);
  changed.push('/etc/hostname');
  const hostsFile = await insideRoot(root, ['etc', 'hosts'], 'file');
  if (hostsFile) {
    await rewrite(hostsFile, hostsWithName(await readFile(hostsFile, 'utf8'), hostname));
    changed.push('/etc/hosts');
  }
  const machineIdFile = await insideRoot(root, ['etc', 'machine-id'], 'file');
  if (machineIdFile) {
    const id = randomBytes(16).toString('hex');
    await rewrite(machineIdFile, `${id}\n`);
    changed.push('/etc/machine-id');
    const dbus = await insideRoot(root, ['var', 'lib', 'dbus', 'machine-id'], 'file').catch(() => undefined);
    if (dbus) {
      await rewrite(dbus, `${id}\n`);
      changed.push('/var/lib/dbus/machine-id');
    }
  }
  return { system: 'linux', changed };
}

async function writeNew(path: string, content: string): Promise<void> {
  const fh = await open(path, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o644);
  try {
    await fh.writeFile(content);
  } finally {
    await fh.close();
  }
}

/** A directory's entry by name, case-insensitively (Windows' paths are; ntfs-3g's are not). */
async function entryCaseless(root: string, parts: string[]): Promise<string[] | undefined> {
  const found: string[] = [];
  let at = root;
  for (const part of parts) {
    let names: string[];
    try {
      names = await readdir(at);
    } catch {
      return undefined;
    }
    const name = names.find((n) => n.toLowerCase() === part.toLowerCase());
    if (!name) return undefined;
    found.push(name);
    at = join(at, name);
  }
  return found;
}

async function personalizeWindows(root: string, hostname: string): Promise<Omit<Personalized, 'disk' | 'partition'> | undefined> {
  const parts = await entryCaseless(root, ['Windows', 'System32', 'config', 'SYSTEM']);
  if (!parts) return undefined;
  const hive = await insideRoot(root, parts, 'file');
  if (!hive) return undefined;
  const current = Number((await run('hivexget', [hive, '\\Select', 'Current'])).stdout.trim());
  if (!Number.isInteger(current) || current < 1 || current > 999)
    throw new ShoalError(`the SYSTEM hive's Select\\Current is not a control set number: cannot tell where the computer name goes`);
  const set = `ControlSet${String(current).padStart(3, '0')}`;
  const netbios = hostname.split('.')[0]!.slice(0, NETBIOS_MAX).toUpperCase();
  const dnsName = hostname.split('.')[0]!;
  if (netbios.length < hostname.split('.')[0]!.length)
    log.warn({ hostname, netbios }, 'the name is longer than a Windows computer name may be: its first 15 characters are used');
  const keys: Array<{ key: string; set: Record<string, string> }> = [
    { key: `\\${set}\\Control\\ComputerName\\ComputerName`, set: { ComputerName: netbios } },
    { key: `\\${set}\\Services\\Tcpip\\Parameters`, set: { Hostname: dnsName, 'NV Hostname': dnsName } },
  ];
  const script: string[] = [];
  for (const k of keys) {
    const listed = (await run('hivexsh', [hive], { input: `cd ${k.key}\nlsval\n` })).stdout;
    const values = parseLsval(listed, k.key);
    for (const [name, value] of Object.entries(k.set)) values.set(name, `hex:1:${utf16z(value)}`);
    script.push(`cd ${k.key}`, `setval ${values.size}`);
    for (const [name, value] of values) script.push(name, value);
  }
  script.push('commit', '');
  await run('hivexsh', ['-w', hive], { input: script.join('\n') });
  return {
    system: 'windows',
    changed: [
      `${set}\\Control\\ComputerName\\ComputerName\\ComputerName`,
      `${set}\\Services\\Tcpip\\Parameters\\Hostname`,
      `${set}\\Services\\Tcpip\\Parameters\\NV Hostname`,
    ],
  };
}

const utf16z = (s: string): string => [...Buffer.from(`${s}\0`, 'utf16le')].map((b) => b.toString(16).padStart(2, '0')).join(',');

/**
 * A key's values as hivexsh's lsval prints them, each turned into setval's input so that setval
 * (which replaces every value of the key) writes them back as they were: strings as UTF-16 bytes
 * of their type, DWORDs as such, everything else as the bytes lsval showed.
 */
export function parseLsval(text: string, key: string): Map<string, string> {
  const values = new Map<string, string>();
  for (const line of text.split('\n').filter((l) => l.trim())) {
    const m = /^"((?:[^"\\]|\\.)*)"=(.*)$/.exec(line);
    if (!m)
      throw new ShoalError(`the SYSTEM hive's key ${key} holds a value this client cannot carry over (${line.slice(0, 80)}): the computer name is not written`);
    const name = m[1] === '@' ? '@' : unescapeReg(m[1]!);
    if (/[\r\n]/.test(name)) throw new ShoalError(`the SYSTEM hive's key ${key} holds a value whose name spans lines: the computer name is not written`);
    const v = m[2]!;
    const str = /^(?:str\((\d+)\):)?"((?:[^"\\]|\\.)*)"$/.exec(v);
    const dword = /^dword:([0-9a-fA-F]{8})$/.exec(v);
    const hex = /^hex\((\d+)\):([0-9a-fA-F,]*)$/.exec(v);
    if (str) values.set(name, `hex:${str[1] ?? 1}:${utf16z(unescapeReg(str[2]!))}`);
    else if (dword) values.set(name, `dword:0x${dword[1]}`);
    else if (hex) values.set(name, `hex:${hex[1]}:${hex[2]}`);
    else
      throw new ShoalError(`the SYSTEM hive's key ${key} holds a value this client cannot carry over (${line.slice(0, 80)}): the computer name is not written`);
  }
  return values;
}

const unescapeReg = (s: string): string => s.replace(/\\(.)/g, '$1');
