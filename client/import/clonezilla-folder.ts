/**
 * A Clonezilla savedisk image folder (docs/foreign-images.md, from Clonezilla's ocs-functions):
 * `disk` names the disks ("sda"), `parts` the partitions saved; per disk sda-pt.sf (sfdisk -d),
 * sda-mbr (the first sector), sda-hidden-data-after-mbr (what lies between it and the first
 * partition), sda-pt.parted (the disk's size); per partition sdaN.<fs>-ptcl-img.<codec>[.aa, .ab …]
 * (partclone), sdaN.dd-ptcl-img.<codec> (partclone.dd: raw bytes, no header) or the older
 * sdaN.dd-img[.aa …] (dd, its codec only in its magic), and swappt-sdaN.info for swap.
 */
import { readdir } from 'node:fs/promises';
import { folderFiles, type FolderFiles } from './folder-files.js';
import { join } from 'node:path';
import { ShoalError } from '../../shared/errors.js';
import type { ImageType } from '../../shared/image/manifest.js';
import { isExtended } from '../disk/partition-table.js';
import { diskBytesOf, parseSfdiskDump } from './sfdisk-dump.js';
import { findStream } from './source-stream.js';
import type { ImportPlan, PlannedDisk, PlannedPartition } from './import-plan.js';

const BOOT_CODE_BYTES = 440;
const CODECS = 'gz|bz2|xz|lz4|zst|zstd|lzo|lzma|lzip|lrz|uncomp';

/** The name a partition's image goes by, split suffix (.aa, .ab …) dropped; undefined for other files. */
function imageBase(file: string, partition: string): string | undefined {
  const esc = partition.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const m = new RegExp(`^(${esc}\\.(?:dd-img|[a-z0-9+-]+-img)(?:\\.(?:${CODECS}))?)(?:\\.[a-z]{2,3})?$`).exec(file);
  return m?.[1];
}

export async function readClonezillaFolder(folder: string, type?: ImageType, files: FolderFiles = folderFiles()): Promise<ImportPlan> {
  const readOptional = (path: string): Promise<Buffer | undefined> => files.readOptional(path);
  let names: string[];
  try {
    names = await readdir(folder);
  } catch (err) {
    throw new ShoalError(`cannot read the Clonezilla image folder ${folder}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
  const diskFile = await readOptional(join(folder, 'disk'));
  if (!diskFile) {
    throw new ShoalError(
      names.includes('parts')
        ? `${folder} is a Clonezilla partition image (saveparts: no "disk" file); Shoal imports whole-disk images (savedisk)`
        : `${join(folder, 'disk')} is missing: not a Clonezilla image folder`,
    );
  }
  const diskNames = diskFile.toString('utf8').split(/\s+/).filter(Boolean);
  for (const d of diskNames) if (!/^[a-z][a-z0-9]*$/.test(d)) throw new ShoalError(`${join(folder, 'disk')}: "${d}" is not a disk name`);
  if (!diskNames.length) throw new ShoalError(`${join(folder, 'disk')} names no disk`);
  const kind = type ?? (diskNames.length > 1 ? 'alldisks' : 'multipart');
  if (kind === 'raw') throw new ShoalError('a Clonezilla image holds partitions: import it as multipart, resizable or alldisks');
  if (kind !== 'alldisks' && diskNames.length > 1)
    throw new ShoalError(`${folder} holds ${diskNames.length} disks (${diskNames.join(', ')}): import it with --type alldisks`);
  const saved = new Set(((await readOptional(join(folder, 'parts')))?.toString('utf8') ?? '').split(/\s+/).filter(Boolean));
  const disks: PlannedDisk[] = [];
  for (const d of kind === 'alldisks' ? diskNames : [diskNames[0]!]) disks.push(await readClonezillaDisk(folder, names, d, saved, files));
  return { format: 'clonezilla', folder, type: kind, disks };
}

async function readClonezillaDisk(folder: string, names: string[], disk: string, saved: Set<string>, files: FolderFiles): Promise<PlannedDisk> {
  const readOptional = (path: string): Promise<Buffer | undefined> => files.readOptional(path);
  const file = (name: string): string => join(folder, name);
  const ptFile = file(`${disk}-pt.sf`);
  const pt = await readOptional(ptFile);
  if (!pt) throw new ShoalError(`${ptFile} is missing: Clonezilla saves the disk's partition table there`);
  const ptText = pt.toString('utf8');
  const table = parseSfdiskDump(ptText, ptFile);
  const mbr = await readOptional(file(`${disk}-mbr`));
  if (table.kind === 'dos' && !mbr) throw new ShoalError(`${file(`${disk}-mbr`)} is missing: Clonezilla saves the disk's boot sector there`);
  const hidden = await readOptional(file(`${disk}-hidden-data-after-mbr`));
  const start = mbr ? Buffer.concat([mbr.subarray(0, 512), ...(hidden ? [hidden] : [])]) : undefined;
  const bootCode = mbr?.subarray(0, BOOT_CODE_BYTES);
  // parted's own print of the disk ("Disk /dev/sda: 41943040s") is the one place its size is kept.
  const parted = (await readOptional(file(`${disk}-pt.parted`)))?.toString('utf8') ?? '';
  const partedSectors = Number(/^Disk \/dev\/\S+:\s*(\d+)s\s*$/m.exec(parted)?.[1] ?? NaN);
  const partName = (n: number): string => `${disk}${/\d$/.test(disk) ? 'p' : ''}${n}`;
  const partitions: PlannedPartition[] = [];
  for (const tp of table.partitions) {
    const name = partName(tp.number);
    if (isExtended(table.kind, tp.type)) {
      partitions.push({ table: tp, source: { kind: 'extended' }, fixedSize: false });
      continue;
    }
    const swapInfo = await readOptional(file(`swappt-${name}.info`));
    if (swapInfo) {
      const text = swapInfo.toString('utf8');
      const uuid = /UUID="([^"]*)"/.exec(text)?.[1];
      const label = /LABEL="([^"]*)"/.exec(text)?.[1];
      partitions.push({ table: tp, source: { kind: 'swap', ...(uuid && { uuid: uuid.toLowerCase() }), ...(label && { label }) }, fixedSize: false });
      continue;
    }
    const images = new Set(names.map((n) => imageBase(n, name)).filter((n): n is string => n !== undefined));
    if (images.size > 1) throw new ShoalError(`${folder}: partition ${name} has ${images.size} images (${[...images].join(', ')}); keep one`);
    const image = [...images][0];
    if (!image) {
      throw new ShoalError(
        `${file(`${name}.<fs>-ptcl-img.<codec>`)} is missing: ${ptFile} lists partition ${tp.number}${saved.size && !saved.has(name) ? ` and ${file('parts')} does not` : ''}`,
      );
    }
    const raw = /\.dd-(ptcl-)?img/.test(image);
    if (!raw && !/-ptcl-img/.test(image)) {
      throw new ShoalError(
        `${file(image)}: made with ${/ntfs-img/.test(image) ? 'ntfsclone' : 'a tool other than partclone or dd'}; Shoal imports partclone and dd images`,
      );
    }
    const stream = await findStream(file(image));
    if (!stream) throw new ShoalError(`${file(image)}: its parts are missing`);
    partitions.push({ table: tp, source: { kind: raw ? 'dd' : 'partclone', stream }, fixedSize: false });
  }
  return {
    sizeBytes: Math.max(diskBytesOf(table), Number.isSafeInteger(partedSectors) ? partedSectors * table.sectorBytes : 0),
    sectorBytes: table.sectorBytes,
    table: { kind: table.kind, ...(table.id && { id: table.id }), ...(table.firstLba !== undefined && { firstLba: table.firstLba }) },
    ...(bootCode?.some((b) => b !== 0) && { bootCode }),
    ...(start && { start }),
    partitions,
  };
}
