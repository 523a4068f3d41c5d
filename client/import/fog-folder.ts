/**
 * A FOG image folder (docs/foreign-images.md, from FOGProject/fos funcs.sh and partition-funcs.sh):
 * per disk N, dN.partitions (sfdisk -d), dN.mbr (an MBR disk's first sectors up to its first
 * partition, at most 1 MiB; a GPT disk's `sgdisk -b` backup), dN.grub.mbr (a GPT disk's first
 * sectors, when GRUB was found), dN.original.swapuuids ("N UUID" lines), dN.fixed_size_partitions
 * (":N:M"), dN.minimum.partitions (resizable images), dNpM.img[.000, .001 …] per partition; a raw
 * image is one partclone.imager stream of the whole disk named after the image's own folder,
 * FOLDER/FOLDER.000, .001 … (d1.img[.000 …] accepted too).
 */
import { readdir } from 'node:fs/promises';
import { folderFiles, type FolderFiles } from './folder-files.js';
import { basename, join } from 'node:path';
import { ShoalError } from '../../shared/errors.js';
import type { ImageType } from '../../shared/image/manifest.js';
import { isExtended } from '../disk/partition-table.js';
import { diskBytesOf, parseSfdiskDump } from './sfdisk-dump.js';
import { findStream } from './source-stream.js';
import type { ImportPlan, PlannedDisk, PlannedPartition } from './import-plan.js';

const GPT_SIGNATURE = 'EFI PART';
const BOOT_CODE_BYTES = 440;

/** The type FOG's database held, told from the files: it is not in the folder itself. */
export async function inferFogType(folder: string): Promise<ImageType> {
  const names = await readdir(folder);
  if (names.some((n) => /^d[2-9]\d*\.partitions$/.test(n))) return 'alldisks';
  if (!names.includes('d1.partitions') && (await rawStream(folder))) return 'raw';
  if (names.includes('d1.minimum.partitions')) return 'resizable';
  return 'multipart';
}

export async function readFogFolder(folder: string, type?: ImageType, files: FolderFiles = folderFiles()): Promise<ImportPlan> {
  let names: string[];
  try {
    names = await readdir(folder);
  } catch (err) {
    throw new ShoalError(`cannot read the FOG image folder ${folder}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
  const kind = type ?? (await inferFogType(folder));
  if (kind === 'raw') {
    const stream = await rawStream(folder);
    const own = join(folder, `${basename(folder)}.000`);
    if (!stream) throw new ShoalError(`${own} is missing: a raw FOG image is one stream named after its folder (${basename(folder)}.000, .001 …)`);
    return { format: 'fog', folder, type: kind, disks: [], rawDisk: stream };
  }
  const diskNumbers = names
    .map((n) => /^d(\d+)\.partitions$/.exec(n)?.[1])
    .filter((n): n is string => n !== undefined)
    .map(Number)
    .sort((a, b) => a - b);
  if (!diskNumbers.length) throw new ShoalError(`${join(folder, 'd1.partitions')} is missing: a FOG image keeps its partition table there`);
  if (kind !== 'alldisks' && diskNumbers.length > 1) throw new ShoalError(`${folder} holds ${diskNumbers.length} disks: import it with --type alldisks`);
  const disks: PlannedDisk[] = [];
  for (const n of kind === 'alldisks' ? diskNumbers : [diskNumbers[0]!]) disks.push(await readFogDisk(folder, n, files));
  return { format: 'fog', folder, type: kind, disks };
}

/**
 * A raw image's stream: FOLDER/FOLDER.000 … as FOG writes it, or d1.img; a folder copied under
 * another name still holds its one X.000.
 */
async function rawStream(folder: string) {
  const own = (await findStream(join(folder, basename(folder)))) ?? (await findStream(join(folder, 'd1.img')));
  if (own) return own;
  const firsts = (await readdir(folder)).filter((n) => n.endsWith('.000') && !/^d\d+p\d+\.img\.000$/.test(n));
  return firsts.length === 1 ? findStream(join(folder, firsts[0]!.slice(0, -4))) : undefined;
}

async function readFogDisk(folder: string, n: number, files: FolderFiles): Promise<PlannedDisk> {
  const readOptional = (path: string): Promise<Buffer | undefined> => files.readOptional(path);
  const file = (suffix: string): string => join(folder, `d${n}${suffix}`);
  const table = parseSfdiskDump((await files.readFile(file('.partitions'))).toString('utf8'), file('.partitions'));
  const mbr = await readOptional(file('.mbr'));
  if (!mbr) throw new ShoalError(`${file('.mbr')} is missing: FOG saves the disk's boot sector and table there`);
  const isGptBackup = mbr.length >= 1024 && mbr.subarray(512, 520).toString('latin1') === GPT_SIGNATURE;
  if (table.kind === 'gpt' && !isGptBackup) throw new ShoalError(`${file('.mbr')}: not an sgdisk backup, yet ${file('.partitions')} is a GPT table`);
  if (table.kind === 'dos' && (mbr.length < 512 || mbr.readUInt16LE(510) !== 0xaa55))
    throw new ShoalError(`${file('.mbr')}: not a boot sector (no 55 AA at its end)`);
  // A GPT disk's gap after the table (GRUB's core) is in dN.grub.mbr; an MBR disk's in dN.mbr.
  const start = table.kind === 'gpt' ? await readOptional(file('.grub.mbr')) : mbr;
  const bootCode = (start ?? mbr).subarray(0, BOOT_CODE_BYTES);
  const swaps = await readSwapUuids(file('.original.swapuuids'), files);
  const fixed = new Set(
    ((await readOptional(file('.fixed_size_partitions')))?.toString('utf8') ?? '')
      .replace(/\0/g, '')
      .split(/[:\s]+/)
      .filter(Boolean)
      .map(Number),
  );
  const sizeFile = await readOptional(file('.size'));
  const givenBytes = sizeFile ? Number(/:\s*(\d+)/.exec(sizeFile.toString('utf8'))?.[1] ?? NaN) : NaN;
  const partitions: PlannedPartition[] = [];
  for (const tp of table.partitions) {
    const fixedSize = fixed.has(tp.number);
    if (isExtended(table.kind, tp.type)) {
      partitions.push({ table: tp, source: { kind: 'extended' }, fixedSize });
      continue;
    }
    const stream = await findStream(file(`p${tp.number}.img`));
    if (stream) partitions.push({ table: tp, source: { kind: 'partclone', stream }, fixedSize });
    else if (swaps.has(tp.number)) partitions.push({ table: tp, source: { kind: 'swap', uuid: swaps.get(tp.number)! }, fixedSize });
    else throw new ShoalError(`${file(`p${tp.number}.img`)} is missing: ${file('.partitions')} lists partition ${tp.number}, and it is not a swap partition`);
  }
  return {
    sizeBytes: Math.max(diskBytesOf(table), Number.isSafeInteger(givenBytes) ? givenBytes : 0),
    sectorBytes: table.sectorBytes,
    table: { kind: table.kind, ...(table.id && { id: table.id }), ...(table.firstLba !== undefined && { firstLba: table.firstLba }) },
    ...(bootCode.some((b) => b !== 0) && { bootCode }),
    ...(start && { start }),
    partitions,
  };
}

async function readSwapUuids(path: string, files: FolderFiles): Promise<Map<number, string>> {
  const out = new Map<number, string>();
  const text = (await files.readOptional(path))?.toString('utf8') ?? '';
  for (const line of text.split('\n')) {
    const m = /^\s*(?:\/dev\/\S*?)?(\d+)\s+([0-9a-fA-F-]{36})\s*$/.exec(line);
    if (m) out.set(Number(m[1]), m[2]!.toLowerCase());
  }
  return out;
}
