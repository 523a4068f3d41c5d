/**
 * After a deploy to a UEFI PC, make sure its firmware boots the deployed OS, and soon. A loader
 * only under \EFI\<vendor>\ (Debian's shim, Windows' boot manager) is found only through a boot
 * entry in the firmware's variables, which a fresh PC, a replaced board or cleared NVRAM lacks; so
 * the client makes that entry (efibootmgr, as Clonezilla does after a restore). It orders the boot
 * list so that the network entry this PC came by stays first (the next task must still reach it),
 * the deployed OS next, then the rest: a network entry that never answers (PXE over IPv6, HTTP
 * boot) costs every boot its timeout otherwise, minutes under a slow firmware. A disk whose only
 * loader is at the removable path (\EFI\BOOT\BOOTX64.EFI) gets an entry for that one, for the
 * same order.
 */
import { existsSync, readdirSync } from 'node:fs';
import { ShoalError } from '../../shared/errors.js';
import { logger } from '../../shared/log.js';
import { run } from '../disk/exec.js';
import { readTable, type TablePartition } from '../disk/partition-table.js';
import { probeDisk } from '../disk/device.js';

const log = logger('uefi');
const EFIVARS = '/sys/firmware/efi/efivars';
const ESP_TYPE = 'c12a7328-f81f-11d2-ba4b-00a0c93ec93b';
export const REMOVABLE_LOADER = 'EFI/BOOT/BOOTX64.EFI';

/** Loaders by preference: shim first (Secure Boot), then what shim would load, then Windows. */
const LOADER_PREFERENCE = ['shimx64.efi', 'grubx64.efi', 'bootmgfw.efi'];

export interface BootEntry {
  id: string;
  label: string;
  active: boolean;
  /** The device path as efibootmgr -v prints it. */
  path: string;
}

export interface BootVars {
  current?: string;
  order: string[];
  entries: BootEntry[];
}

/** efibootmgr -v's listing. Its device paths differ by version (`File(\EFI\…)` or `\EFI\…`); both are kept as printed. */
export function parseBootVars(text: string): BootVars {
  const vars: BootVars = { order: [], entries: [] };
  for (const line of text.split('\n')) {
    const current = /^BootCurrent:\s*([0-9A-Fa-f]{4})/.exec(line);
    if (current) vars.current = current[1]!.toUpperCase();
    const order = /^BootOrder:\s*([0-9A-Fa-f,]*)/.exec(line);
    if (order)
      vars.order = order[1]!
        .split(',')
        .filter(Boolean)
        .map((s) => s.toUpperCase());
    const entry = /^Boot([0-9A-Fa-f]{4})(\*?)\s+(.*)$/.exec(line);
    if (entry) {
      const [label, ...rest] = entry[3]!.split('\t');
      vars.entries.push({ id: entry[1]!.toUpperCase(), active: entry[2] === '*', label: label!.trim(), path: rest.join('\t').trim() });
    }
  }
  return vars;
}

/** An entry that boots from the network: PXE (a MAC and an IP node) or HTTP boot (a URI node). */
export const isNetworkEntry = (e: BootEntry): boolean => /(^|\/)(MAC|IPv4|IPv6|Uri)\(/i.test(e.path);

/** Whether an entry boots `loader` (ESP-relative, forward slashes) from the partition with GUID `partUuid`. */
export function entryBoots(e: BootEntry, partUuid: string, loader: string): boolean {
  const path = e.path.toLowerCase();
  return path.includes(partUuid.toLowerCase()) && path.includes(`\\${loader.toLowerCase().replace(/\//g, '\\')}`);
}

/**
 * The boot order after the deploy: the network entry the PC booted by (else every network entry),
 * the OS's entry, the other network entries, then the rest as they were.
 */
export function bootOrderAfterDeploy(vars: BootVars, osEntry: string): string[] {
  const byId = new Map(vars.entries.map((e) => [e.id, e]));
  const current = vars.current && byId.get(vars.current);
  const order = vars.order.filter((id) => id !== osEntry);
  const network = order.filter((id) => byId.get(id) && isNetworkEntry(byId.get(id)!));
  const first = current && isNetworkEntry(current) ? [current.id] : network;
  const rest = order.filter((id) => !first.includes(id));
  const otherNetwork = rest.filter((id) => network.includes(id));
  return [...first, osEntry, ...otherNetwork, ...rest.filter((id) => !network.includes(id))];
}

/**
 * The ESP's loader for the firmware, from the ESP's file list (forward slashes, as mtools lists
 * it): a vendor's (shim before GRUB, Windows' boot manager), else the removable path's.
 */
export function chooseLoader(files: string[]): { loader: string; vendor?: string } | undefined {
  const efi = files.filter((f) => /^EFI\/[^/]+\/(?:[^/]+\/)*[^/]+\.efi$/i.test(f) && !/^EFI\/BOOT\//i.test(f));
  for (const name of LOADER_PREFERENCE) {
    const hit = efi.find((f) => f.split('/').pop()!.toLowerCase() === name);
    if (hit) return { loader: hit, vendor: hit.split('/')[1]! };
  }
  const removable = files.find((f) => f.toUpperCase() === REMOVABLE_LOADER);
  return removable ? { loader: removable } : undefined;
}

export type BootEntryOutcome =
  { kind: 'not-uefi' | 'not-a-device' | 'no-esp' | 'no-loader' } | { kind: 'created' | 'kept'; entry: string; label: string; loader: string; order: string[] };

/** The ESP's files, ESP-relative with forward slashes (mtools reads FAT where the kernel has no vfat). */
async function espFiles(disk: string, esp: TablePartition): Promise<string[]> {
  const res = await run('mdir', ['-/', '-b', '-i', `${disk}@@${esp.startBytes}`, '::/EFI'], { okCodes: [1] });
  if (res.code !== 0) {
    // An ESP without an EFI folder holds no loader; anything else is a failure to read it.
    if (/not found/i.test(res.stderr)) return [];
    throw new ShoalError(`cannot read the ESP (partition ${esp.number} of ${disk}) to make its boot entry: ${res.stderr.trim().split('\n').pop()}`);
  }
  return res.stdout
    .split('\n')
    .map((l) => l.trim().replace(/^::\//, ''))
    .filter(Boolean);
}

/** The disk's ESP gets a boot entry, labelled by the loader's vendor, else `fallbackLabel` (the image's name). */
export async function ensureUefiBootEntry(disk: string, fallbackLabel: string): Promise<BootEntryOutcome> {
  if (!existsSync(EFIVARS) || readdirSync(EFIVARS).length === 0) return { kind: 'not-uefi' };
  const info = await probeDisk(disk);
  // A disk-image file is not what this machine's firmware boots: its entries are left alone.
  if (!info.isBlockDevice) return { kind: 'not-a-device' };
  const table = await readTable(disk, info.logicalSectorBytes);
  const esp = table.kind === 'gpt' ? table.partitions.find((p) => p.type.toLowerCase() === ESP_TYPE) : undefined;
  if (!esp?.uuid) return { kind: 'no-esp' };
  const files = await espFiles(disk, esp);
  const choice = chooseLoader(files);
  if (!choice) {
    log.warn({ disk, esp: esp.number }, 'the ESP holds no loader this client knows (shim, GRUB, Windows boot manager, the removable path): no boot entry made');
    return { kind: 'no-loader' };
  }
  const label = !choice.vendor ? fallbackLabel : choice.vendor.toLowerCase() === 'microsoft' ? 'Windows Boot Manager' : choice.vendor;
  let vars = parseBootVars((await efibootmgr(['-v'])).stdout);
  let entry = vars.entries.find((e) => entryBoots(e, esp.uuid!, choice.loader));
  const kind = entry ? 'kept' : 'created';
  if (!entry) {
    // An entry of the same label and loader on another partition is one an earlier deploy left.
    for (const stale of vars.entries.filter(
      (e) => e.label === label && !isNetworkEntry(e) && e.path.toLowerCase().includes(choice.loader.split('/').pop()!.toLowerCase()),
    )) {
      await efibootmgr(['-b', stale.id, '-B']);
    }
    vars = parseBootVars(
      (await efibootmgr(['-v', '-c', '-d', disk, '-p', String(esp.number), '-L', label, '-l', `\\${choice.loader.replace(/\//g, '\\')}`])).stdout,
    );
    entry = vars.entries.find((e) => entryBoots(e, esp.uuid!, choice.loader));
    if (!entry) throw new ShoalError(`efibootmgr made no boot entry for ${choice.loader} on ${disk} partition ${esp.number}`);
  }
  const order = bootOrderAfterDeploy(vars, entry.id);
  if (order.join(',') !== vars.order.join(',')) await efibootmgr(['-o', order.join(',')]);
  log.info({ entry: entry.id, label, loader: choice.loader, order: order.join(',') }, `${kind} the boot entry for ${choice.loader}`);
  return { kind, entry: entry.id, label, loader: choice.loader, order };
}

const efibootmgr = (args: string[]): Promise<{ stdout: string }> => run('efibootmgr', args);
