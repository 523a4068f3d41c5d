/**
 * FOG and Clonezilla image folders built from the fixture disks the way those projects build them
 * (docs/foreign-images.md): the real partclone.<fs> -c through a loop device per partition (the
 * kernel here does not scan partition tables on loop devices), the real compressors, `split` with
 * each project's suffixes and units, `sfdisk -d`, `sgdisk -b`, `parted` and `dd`. Device names in
 * the saved tables are rewritten to /dev/sda…, as a capture on a real PC would write them.
 *
 * One part is a test double: modern partclone cannot write image format v1 (it always writes
 * "0002"), so `partcloneV1FromV2` rewrites a real v2 stream as the v1 partclone ≤ 0.2 wrote.
 *
 * Also here: FOG's and Clonezilla's own restores of these folders (to check the fixtures
 * themselves), the damage an importer must refuse, and the checks of a deployed disk.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  readSync,
  renameSync,
  rmSync,
  statSync,
  truncateSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { fsck, fsIdentity, loop, makeDisk, MiB, readFilesBack, sh, tableOf, unloop, type FixtureDisk } from './fixtures.js';

export type Codec = 'zstd' | 'gzip' | 'lz4' | 'bzip2' | 'xz' | 'none';
type Part = FixtureDisk['parts'][number];

export interface ForeignImage {
  kind: 'fog' | 'clonezilla';
  folder: string;
  codec: Codec;
  /** Partition number → the files of its stream, in order; a FOG raw image's is under 0. */
  streams: Map<number, string[]>;
  /** FOG's "n" type: the filesystems in the streams were shrunk first. */
  shrunk?: boolean;
}

/** The name a capturing PC gives its disk, in every saved table and name. */
const DEV = '/dev/sda';

// ---------------------------------------------------------------------------------------------
// Fixture disks

/**
 * A GPT disk as in a lab PC (EFI FAT32, ext4, NTFS, swap) plus a small partition without a
 * filesystem, which FOG saves with partclone.imager and Clonezilla with partclone.dd. Few MiB of
 * files, so the import tests stay quick.
 */
export function foreignGptDisk(dir: string, fillMiB = 6): FixtureDisk {
  return makeDisk(
    dir,
    'gpt-src.img',
    220,
    'gpt',
    [
      { sizeMiB: 40, fs: 'vfat', name: 'EFI system', label: 'EFI' },
      { sizeMiB: 72, fs: 'ext4', name: 'root', label: 'root' },
      { sizeMiB: 64, fs: 'ntfs', name: 'Windows', label: 'Windows' },
      { sizeMiB: 6, fs: 'none', name: 'raw' },
      { fs: 'swap', name: 'swap', label: 'swap0' },
    ],
    fillMiB,
  );
}

/** An MBR disk with an extended partition holding logical ones: ext4, ext4 (logical), swap (logical). */
export function mbrLogicalDisk(dir: string, fillMiB = 6): FixtureDisk {
  return makeDisk(
    dir,
    'mbr-src.img',
    160,
    'dos',
    [
      { sizeMiB: 56, fs: 'ext4', label: 'boot' },
      { fs: 'extended' },
      { sizeMiB: 64, fs: 'ext4', logical: true, label: 'home' },
      { fs: 'swap', logical: true, label: 'swap1' },
    ],
    fillMiB,
  );
}

/**
 * Makes a disk look like one GRUB was installed on: "GRUB" in its boot code (what FOG's saveGRUB
 * greps sector 0 for) and a core image in the gap after the table (sectors 34…2047 on GPT,
 * 1…2047 on MBR). Returns the gap's bytes.
 */
export function markGrub(disk: FixtureDisk): Buffer {
  const gpt = tableOf(disk.path).label === 'gpt';
  const firstSector = gpt ? 34 : 1;
  const gap = randomBytes((2048 - firstSector) * 512);
  const fd = openSync(disk.path, 'r+');
  try {
    writeSync(fd, Buffer.from('GRUB '), 0, 5, 0x180);
    writeSync(fd, gap, 0, gap.length, firstSector * 512);
  } finally {
    closeSync(fd);
  }
  return gap;
}

// ---------------------------------------------------------------------------------------------
// Shared pieces

const q = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;

/** Runs a shell pipeline with pipefail, so a failing partclone fails the fixture. */
function pipeline(cmd: string): void {
  execFileSync('bash', ['-o', 'pipefail', '-c', cmd], { stdio: ['ignore', 'ignore', 'pipe'], maxBuffer: 64 * MiB });
}

/** `sfdisk -d` of a disk-image file, its device names rewritten to the capturing PC's /dev/sda. */
function dumpTable(diskPath: string): string {
  const dump = sh('sfdisk', ['--dump', diskPath]);
  return dump
    .split('\n')
    .map((l) => (l.startsWith('device: ') ? `device: ${DEV}` : l.startsWith(diskPath) ? DEV + l.slice(diskPath.length) : l))
    .join('\n');
}

/** The same dump with this machine's path again, for sfdisk to apply to the file. */
const toPath = (dump: string, diskPath: string): string =>
  dump
    .split('\n')
    .map((l) => (l.startsWith(DEV) ? diskPath + l.slice(DEV.length) : l))
    .join('\n');

interface DumpLine {
  number: number;
  start: number;
  size: number;
  line: string;
}
const dumpLines = (dump: string): DumpLine[] =>
  dump.split('\n').flatMap((line) => {
    const m = /^\S*?(\d+) : start=\s*(\d+), size=\s*(\d+)/.exec(line);
    return m ? [{ number: Number(m[1]), start: Number(m[2]), size: Number(m[3]), line }] : [];
  });

function dd(args: string[]): void {
  execFileSync('dd', [...args, 'status=none']);
}

/** Where a partition lies in a disk-image file now (its table may have been changed). */
function placeOf(diskPath: string, number: number): { start: number; size: number } {
  const p = tableOf(diskPath).partitions!.find((t) => Number(/(\d+)$/.exec(t.node)![1]) === number);
  if (!p) throw new Error(`${diskPath}: no partition ${number}`);
  return { start: p.start * 512, size: p.size * 512 };
}

function withLoop<T>(diskPath: string, place: { start: number; size: number }, f: (dev: string) => T): T {
  const dev = loop(diskPath, place.start, place.size);
  try {
    return f(dev);
  } finally {
    unloop(dev);
  }
}

/** The files of a stream written as `prefix` + a split suffix, or `prefix` alone, in order. */
const piecesOf = (folder: string, name: string): string[] =>
  readdirSync(folder)
    .filter((f) => f === name || (f.startsWith(`${name}.`) && /^(\d{3}|[a-z]{2,})$/.test(f.slice(name.length + 1))))
    .sort()
    .map((f) => join(folder, f));

// ---------------------------------------------------------------------------------------------
// FOG

export type FogType = 'multipart' | 'resizable' | 'raw';
export interface FogOptions {
  /** FOG's image type: "mps", "n" or "dd" in its database. */
  type?: FogType;
  /** zstd (format 5/6, FOG's default), gzip (0/2), none (3/4); lz4 is no format of FOS (see below). */
  codec?: 'zstd' | 'gzip' | 'none' | 'lz4';
  /** FOG_PIGZ_COMP: 6 on a fresh FOG 1.5.10. */
  level?: number;
  /** The split formats (2, 4, 6) cut at 200 MiB; tests pass a small size so that splitting happens. */
  splitBytes?: number;
  /** Partition streams in partclone's format v1 (FOG 1.2 era, partclone 0.2): the test double. */
  partcloneV1?: boolean;
  /** FOG_CAPTURERESIZEPCT (fog.upload raises anything under 5 to 5). */
  resizePercent?: number;
}

const FOG_PROGRAM: Partial<Record<Part['fs'], string>> = { vfat: 'fat', ext4: 'extfs', ntfs: 'ntfs', none: 'imager' };

function fogCompressor(codec: NonNullable<FogOptions['codec']>, level: number): string {
  switch (codec) {
    case 'zstd':
      return `zstdmt --rsyncable --ultra -${level} -q`; // uploadFormat, formats 5 and 6
    case 'gzip':
      return `pigz -${level}`; // formats 0 and 2
    case 'none':
      return 'cat'; // formats 3 and 4
    case 'lz4':
      // No FOS capture writes lz4 (docs/foreign-images.md §2.1); images said to be older FOG's
      // carry lz4's legacy frame, so that is what this writes.
      return 'lz4 -l -1 -q';
  }
}

/**
 * uploadFormat: the compressed stream to `${file}.000`, or split into `${file}.000`, `.001` …;
 * then savePartition renames `.000` to `file` itself (a split image is d1p2.img, d1p2.img.001 …).
 */
function fogWrite(source: string, compressor: string, file: string, splitBytes: number | undefined, renameFirst: boolean): void {
  const out = splitBytes ? `split -a 3 -d -b ${splitBytes} - ${q(`${file}.`)}` : `cat > ${q(`${file}.000`)}`;
  pipeline(`${source} | ${compressor} | ${out}`);
  if (renameFirst) renameSync(`${file}.000`, file);
}

/** Builds a FOG image folder of `src` under `dir/name`, as fog.upload would on a PC with that disk. */
export function makeFogImage(src: FixtureDisk, dir: string, name: string, opts: FogOptions = {}): ForeignImage {
  const type = opts.type ?? 'multipart';
  const codec = opts.codec ?? 'zstd';
  const compressor = fogCompressor(codec, opts.level ?? 6);
  const folder = join(dir, name);
  mkdirSync(folder, { recursive: true });
  const image: ForeignImage = { kind: 'fog', folder, codec, streams: new Map() };
  const log = join(dir, `${name}-partclone.log`);

  if (type === 'raw') {
    // fog.upload "dd": partclone.imager of the whole disk, checksums off, into `$img.000`
    // (no rename for raw); `$img` is the image's path name, the folder's own name.
    const file = join(folder, name);
    fogWrite(`partclone.imager -c -s ${q(src.path)} -o - -a0 -L ${q(log)}`, compressor, file, opts.splitBytes, false);
    image.streams.set(0, piecesOf(folder, name));
    return image;
  }

  // The resizable type shrinks the filesystems on the PC's disk before capturing; here on a copy.
  let disk = src.path;
  if (type === 'resizable') {
    disk = join(dir, `${name}-capture-disk.img`);
    execFileSync('cp', ['--sparse=always', src.path, disk]);
  }
  const gpt = tableOf(disk).label === 'gpt';
  const parts = [...src.parts].sort((a, b) => a.number - b.number);
  const file = (suffix: string): string => join(folder, `d1${suffix}`);

  if (type === 'resizable') {
    image.shrunk = true;
    fogShrink(disk, parts, folder, opts.resizePercent ?? 5, gpt);
  } else fogSaveTablesAndBootLoaders(disk, folder, gpt, file('.partitions'));

  for (const p of parts) {
    if (p.fs === 'extended') {
      // savePartition: no stream, only the marker (saveAllEBRs already wrote its first sector).
      if (!existsSync(file(`p${p.number}.ebr`))) writeFileSync(file(`p${p.number}.ebr`), '');
      continue;
    }
    const place = placeOf(disk, p.number);
    if (p.fs === 'swap') {
      const uuid = withLoop(disk, place, (dev) => sh('blkid', ['--probe', '--output', 'value', '--match-tag', 'UUID', dev]).trim());
      writeFileSync(file('.original.swapuuids'), `${p.number} ${uuid}\n`, { flag: 'a' });
      continue;
    }
    const program = FOG_PROGRAM[p.fs]!;
    // FOG passes -a0 (no checksums) except to partclone.imager (commit 7faf4b6 in fos).
    const checksum = program === 'imager' ? '' : '-a0';
    const out = file(`p${p.number}.img`);
    withLoop(disk, place, (dev) => {
      const capture = `partclone.${program} -c -s ${q(dev)} -o - ${checksum} -L ${q(log)}`;
      if (!opts.partcloneV1) return fogWrite(capture, compressor, out, opts.splitBytes, true);
      const v2 = join(dir, `${name}-p${p.number}.v2`);
      pipeline(`${capture} > ${q(v2)}`);
      writeFileSync(`${v2}.v1`, partcloneV1FromV2(readFileSync(v2)));
      rmSync(v2);
      fogWrite(`cat ${q(`${v2}.v1`)}`, compressor, out, opts.splitBytes, true);
      rmSync(`${v2}.v1`);
    });
    image.streams.set(p.number, piecesOf(folder, `d1p${p.number}.img`));
  }
  if (disk !== src.path) rmSync(disk);
  return image;
}

/**
 * savePartitionTablesAndBootLoaders: d1.mbr (MBR: the raw sectors before the first partition;
 * GPT: `sgdisk -b`), the GRUB marker or sectors, the sfdisk dump, and each EBR of an MBR disk.
 */
function fogSaveTablesAndBootLoaders(disk: string, folder: string, gpt: boolean, sfdiskFile: string): void {
  const file = (suffix: string): string => join(folder, `d1${suffix}`);
  const dump = dumpTable(disk);
  // saveGRUB: the smallest start, at most 2048 sectors, and one sector when it is 8 or 63.
  let count = Math.min(...dumpLines(dump).map((l) => l.start));
  if (count > 2048) count = 2048;
  if (count === 8 || count === 63) count = 1;
  const sector0 = Buffer.alloc(512);
  const fd = openSync(disk, 'r');
  readSync(fd, sector0, 0, 512, 0);
  closeSync(fd);
  const hasGrub = /grub/i.test(sector0.toString('latin1'));
  if (hasGrub) writeFileSync(gpt ? file('.grub.mbr') : file('.has_grub'), '');
  dd([`if=${disk}`, `of=${gpt && hasGrub ? file('.grub.mbr') : file('.mbr')}`, 'bs=512', `count=${count}`]);
  if (gpt) sh('sgdisk', [`--backup=${file('.mbr')}`, disk]);
  writeFileSync(sfdiskFile, dump);
  if (gpt) return;
  // saveAllEBRs: the first sector of every partition numbered 5 or more and of the extended one.
  for (const l of dumpLines(dump)) {
    if (l.number < 5 && !/type=(5|f|85)\b/.test(l.line)) continue;
    dd([`if=${disk}`, `of=${file(`p${l.number}.ebr`)}`, 'bs=512', `skip=${l.start}`, 'count=1']);
  }
}

/**
 * fog.upload's "n" branch on `disk`: the fixed-size list, the original table and filesystem
 * types, the shrink of each ext4 (resize2fs -M, partition to the minimum plus the percentage) and
 * NTFS (ntfsresize, at least 500 MiB of slack, or fixed when that does not fit), on GPT the
 * partitions moved down to close the gaps for the saved minimum table, then back.
 */
function fogShrink(disk: string, parts: Part[], folder: string, percent: number, gpt: boolean): void {
  const file = (suffix: string): string => join(folder, `d1${suffix}`);
  const fixed = parts.filter((p) => p.fs !== 'ext4' && p.fs !== 'ntfs').map((p) => p.number);
  writeFileSync(file('.fixed_size_partitions'), `${fixed.sort((a, b) => a - b).join(':')}\n`);
  writeFileSync(file('.partitions'), dumpTable(disk)); // saveOriginalPartitions
  writeFileSync(file('.original.fstypes'), '');
  writeFileSync(file('.original.swapuuids'), '');
  for (const p of parts) {
    if (fixed.includes(p.number)) continue;
    writeFileSync(file('.original.fstypes'), `${DEV}${p.number} ${p.fs === 'ext4' ? 'extfs' : 'ntfs'}\n`, { flag: 'a' });
    const place = placeOf(disk, p.number);
    let newBytes: number | undefined;
    withLoop(disk, place, (dev) => {
      if (p.fs === 'ext4') {
        sh('e2fsck', ['-fp', dev]);
        const minBlocks = Number(/:\s*(\d+)/.exec(sh('resize2fs', ['-P', dev]))![1]);
        const blockSize = Number(/^Block size:\s+(\d+)/m.exec(sh('dumpe2fs', ['-h', dev]))![1]);
        const size = minBlocks * blockSize;
        sh('resize2fs', [dev, '-M']);
        newBytes = size + Math.round((percent / 100) * size);
        return;
      }
      const info = sh('ntfsresize', ['-f', '-i', '-v', '-P', dev]);
      const size = Number(/you might resize at\s+(\d+)/i.exec(info)![1]);
      const slack = Math.max(Math.round((percent / 100) * size), 500 * MiB);
      const kib = Math.round((size + slack) / 1024);
      if (kib * 1024 >= place.size) {
        // "bigger than the device size": FOG keeps it as it is and appends it to the fixed list.
        writeFileSync(file('.fixed_size_partitions'), `${readFileSync(file('.fixed_size_partitions'), 'utf8').replace(/\n$/, '')}:${p.number}\n`);
        return;
      }
      execFileSync('ntfsresize', ['-f', '-s', `${kib}k`, dev], { input: 'y\n', stdio: ['pipe', 'ignore', 'pipe'] });
      newBytes = kib * 1024;
    });
    // resizePartition → procsfdisk.awk "resize": the new size in whole sectors, start kept.
    if (newBytes !== undefined) sh('sfdisk', ['--quiet', '--no-reread', '-N', String(p.number), disk], `,${Math.floor(newBytes / 512)}\n`);
    if (p.fs === 'ext4' && newBytes !== undefined) withLoop(disk, placeOf(disk, p.number), (dev) => sh('e2fsck', ['-fp', dev]));
  }
  if (!gpt) {
    fogSaveTablesAndBootLoaders(disk, folder, gpt, file('.minimum.partitions'));
    return;
  }
  // GPT: the shrunk table is kept, then each partition is moved down behind the one before it
  // (procsfdisk "move": the previous end plus 512 sectors, rounded down to 512) to save the
  // minimum table and the sgdisk backup, then the shrunk table is put back before capturing.
  const shrunken = dumpTable(disk);
  writeFileSync(file('.shrunken.partitions'), shrunken);
  const lines = dumpLines(shrunken).sort((a, b) => a.number - b.number);
  const minStart = Math.min(...lines.map((l) => l.start));
  const moved = new Map<number, number>();
  for (let i = 1; i < lines.length; i++) {
    const prev = lines[i - 1]!;
    const cur = lines[i]!;
    const prevEnd = (moved.get(prev.number) ?? prev.start) + prev.size;
    if (cur.start <= prevEnd) continue;
    let start = prevEnd + 512 - ((prevEnd + 512) % 512);
    if (start < minStart) start = minStart;
    const overlaps = lines.some((o) => o !== cur && start < (moved.get(o.number) ?? o.start) + o.size && (moved.get(o.number) ?? o.start) < start + cur.size);
    if (!overlaps) moved.set(cur.number, start);
  }
  const movedDump = shrunken
    .split('\n')
    .map((l) => {
      const d = dumpLines(l)[0];
      return d && moved.has(d.number) ? l.replace(/start=\s*\d+/, `start=${String(moved.get(d.number)).padStart(12)}`) : l;
    })
    .join('\n');
  sh('sfdisk', ['--quiet', '--no-reread', disk], toPath(movedDump, disk));
  fogSaveTablesAndBootLoaders(disk, folder, gpt, file('.minimum.partitions'));
  sh('sfdisk', ['--quiet', '--no-reread', disk], toPath(shrunken, disk));
}

// ---------------------------------------------------------------------------------------------
// Clonezilla

export interface ClonezillaOptions {
  /** zstd (Clonezilla's default, `zstd -c -T0 -3`), gzip (-z1), bzip2 (-z2), xz (-z5), lz4 (-z8), none (-z0). */
  codec?: Codec;
  /** VOL_LIMIT in MB (1 000 000 bytes); 0 or undefined: not split. */
  splitMB?: number;
  /** `-j2`: the sectors between the MBR and the first partition (MBR disks). Default true. */
  hiddenData?: boolean;
  /** A partition without a filesystem: partclone.dd's sdaN.dd-ptcl-img.<codec> (now) or dd's sdaN.dd-img (older). */
  raw?: 'dd-ptcl' | 'dd-img';
}

const CZ_COMPRESSOR: Record<Codec, [string, string]> = {
  zstd: ['zstd -c -T0 -3 -q', 'zst'],
  gzip: ['gzip -c --fast --rsyncable', 'gz'],
  bzip2: ['bzip2 -c -3', 'bz2'],
  xz: ['xz -c -3', 'xz'],
  lz4: ['lz4 -c -1 -q', 'lz4'], // -z8 passes `-T1` too, which Debian's lz4 1.9.4 does not take
  none: ['cat', 'uncomp'],
};
/** The `<fs>` Clonezilla names the program and the file with (ocs-get-dev-info). */
const CZ_FS: Partial<Record<Part['fs'], string>> = { vfat: 'vfat', ext4: 'ext4', ntfs: 'ntfs' };
/** PARTCLONE_SAVE_OPT before Clonezilla's switch to XXH128 (-a3), which Debian's partclone lacks. */
const CZ_PARTCLONE_OPT = '-z 10485760';

/** Builds a Clonezilla savedisk image folder of `src` under `dir/name`. */
export function makeClonezillaImage(src: FixtureDisk, dir: string, name: string, opts: ClonezillaOptions = {}): ForeignImage {
  const codec = opts.codec ?? 'zstd';
  const [compressor, suffix] = CZ_COMPRESSOR[codec];
  const folder = join(dir, name);
  mkdirSync(folder, { recursive: true });
  const image: ForeignImage = { kind: 'clonezilla', folder, codec, streams: new Map() };
  const disk = src.path;
  const file = (n: string): string => join(folder, n);
  const log = join(dir, `${name}-partclone.log`);
  const table = tableOf(disk);
  const gpt = table.label === 'gpt';
  const parts = [...src.parts].sort((a, b) => a.number - b.number);
  const split = opts.splitMB ? ` | split -a 2 -b ${opts.splitMB}MB - ` : undefined;

  // save_part_table_mbr_dm_info
  writeFileSync(
    file('dev-fs.list'),
    '# <Device name>   <File system>   <Size>\n# File system is got from ocs-get-dev-info. It might be different from that of blkid or parted.\n',
  );
  writeFileSync(file('blkid.list'), '');
  writeFileSync(file('sda-pt.sf'), dumpTable(disk));
  writeFileSync(file('sda-pt.parted'), sh('parted', ['-s', disk, 'unit', 's', 'print']).replace(`Disk ${disk}:`, `Disk ${DEV}:`));
  writeFileSync(file('sda-pt.parted.compact'), sh('parted', ['-s', disk, 'unit', 'compact', 'print']).replace(`Disk ${disk}:`, `Disk ${DEV}:`));
  writeFileSync(file('sda-chs.sf'), 'cylinders=0\nheads=255\nsectors=63\n');
  if (gpt) {
    const sectors = statSync(disk).size / 512;
    dd([`if=${disk}`, `of=${file('sda-gpt-1st')}`, 'bs=512', 'count=34']);
    dd([`if=${disk}`, `of=${file('sda-gpt-2nd')}`, 'bs=512', `skip=${sectors - 33}`, 'count=33']);
    sh('sgdisk', [`--backup=${file('sda-gpt.gdisk')}`, disk]);
    writeFileSync(file('sda-gpt.sgdisk'), sh('sgdisk', ['-p', disk]));
  } else if (opts.hiddenData ?? true) {
    const first = Math.min(...table.partitions!.map((p) => p.start));
    dd([`if=${disk}`, `of=${file('sda-hidden-data-after-mbr')}`, 'skip=1', 'bs=512', `count=${first - 1}`]);
  }
  dd([`if=${disk}`, `of=${file('sda-mbr')}`, 'bs=512', 'count=1']);

  const dataParts: string[] = [];
  for (const p of parts) {
    const dev = `sda${p.number}`;
    const place = placeOf(disk, p.number);
    const size = `${Math.round(place.size / MiB)}M`;
    if (p.fs === 'extended') {
      dd([`if=${disk}`, `of=${file(`${dev}-ebr`)}`, 'bs=512', `skip=${place.start / 512}`, 'count=1']);
      continue;
    }
    if (p.fs === 'swap') {
      const id = fsIdentity(disk, place.start, place.size);
      writeFileSync(file(`swappt-${dev}.info`), `UUID="${id.uuid}"\nLABEL="${id.label}"\n`);
      writeFileSync(file('dev-fs.list'), `${DEV}${p.number} swap ${size}\n`, { flag: 'a' });
      continue;
    }
    dataParts.push(dev);
    const fs = CZ_FS[p.fs];
    writeFileSync(file('dev-fs.list'), `${DEV}${p.number} ${fs ?? ''} ${size}\n`, { flag: 'a' });
    withLoop(disk, place, (loopDev) => {
      let base: string;
      let capture: string;
      if (fs) {
        base = `${dev}.${fs}-ptcl-img.${suffix}`;
        capture = `partclone.${fs} ${CZ_PARTCLONE_OPT} -L ${q(log)} -c -s ${q(loopDev)} --output -`;
      } else if ((opts.raw ?? 'dd-ptcl') === 'dd-ptcl') {
        base = `${dev}.dd-ptcl-img.${suffix}`;
        capture = `partclone.dd -z 16777216 -L ${q(log)} -s ${q(loopDev)} --output -`;
      } else {
        base = `${dev}.dd-img`; // save_part_by_dd: no codec in the name
        capture = `dd bs=1M if=${q(loopDev)} status=none`;
      }
      pipeline(`${capture} | ${compressor}${split ? `${split}${q(`${file(base)}.`)}` : ` > ${q(file(base))}`}`);
      image.streams.set(p.number, piecesOf(folder, base));
    });
  }
  writeFileSync(file('parts'), `${dataParts.join(' ')}\n`);
  writeFileSync(file('disk'), 'sda\n');
  writeFileSync(file('clonezilla-img'), `This image was saved by Clonezilla at ${new Date().toISOString()}.\n(a Shoal test fixture)\n`);
  writeFileSync(
    file('Info-img-id.txt'),
    `# This checksum is only for identifying the image. Created by the command: sha512sum clonezilla-img\nIMG_ID=${sh('sha512sum', [file('clonezilla-img')]).split(' ')[0]}\n`,
  );
  return image;
}

// ---------------------------------------------------------------------------------------------
// partclone image format v1 (the test double)

/**
 * Rewrites a partclone v2 stream as v1 (docs/foreign-images.md §1.2): the 4160-byte header, one
 * bitmap byte per block and "BiTmAgIc", each used block followed by the running CRC32_0001 (the
 * old CRC loop that fed a block's first byte block_size times, never reseeded).
 */
export function partcloneV1FromV2(v2: Buffer): Buffer {
  if (v2.subarray(0, 15).toString('latin1') !== 'partclone-image' || v2.subarray(30, 34).toString('latin1') !== '0002')
    throw new Error('not a partclone v2 stream');
  const totalBlocks = Number(v2.readBigUInt64LE(60));
  const usedBlocks = Number(v2.readBigUInt64LE(76));
  const blockSize = v2.readUInt32LE(84);
  const checksumSize = v2.readUInt16LE(98);
  const blocksPerChecksum = v2.readUInt32LE(100);
  if (v2[105] !== 0x01) throw new Error('only a bit bitmap can be converted');
  const bitmapBytes = Math.ceil(totalBlocks / 8);
  const bitmap = v2.subarray(110, 110 + bitmapBytes);

  const header = Buffer.alloc(4160);
  header.write('partclone-image', 0, 'latin1');
  v2.copy(header, 15, 36, 36 + 15); // fs, 15 bytes
  header.write('0001', 30, 'latin1');
  header.writeInt32LE(blockSize, 36);
  header.writeBigUInt64LE(v2.readBigUInt64LE(52), 40); // device_size
  header.writeBigUInt64LE(BigInt(totalBlocks), 48);
  header.writeBigUInt64LE(BigInt(usedBlocks), 56);

  const byteMap = Buffer.alloc(totalBlocks);
  for (let i = 0; i < totalBlocks; i++) byteMap[i] = (bitmap[i >> 3]! >> (i & 7)) & 1;

  const out = Buffer.alloc(usedBlocks * (blockSize + 4));
  let src = 110 + bitmapBytes + 4;
  let dst = 0;
  let crc = 0xffffffff;
  for (let i = 0; i < usedBlocks; i++) {
    v2.copy(out, dst, src, src + blockSize);
    crc = crc32Of0001(crc, v2[src]!, blockSize);
    out.writeUInt32LE(crc >>> 0, dst + blockSize);
    src += blockSize;
    dst += blockSize + 4;
    if (blocksPerChecksum && (i + 1) % blocksPerChecksum === 0) src += checksumSize;
  }
  return Buffer.concat([header, byteMap, Buffer.from('BiTmAgIc', 'latin1'), out]);
}

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let i = 0; i < 256; i++) {
    let c = i;
    for (let j = 0; j < 8; j++) c = c & 1 ? (c >>> 1) ^ 0xedb88320 : c >>> 1;
    t[i] = c >>> 0;
  }
  return t;
})();

/** crc32_0001: `byte` fed `count` times (the pointer never moved), no final inversion. */
function crc32Of0001(crc: number, byte: number, count: number): number {
  for (let i = 0; i < count; i++) crc = (crc >>> 8) ^ CRC_TABLE[(crc ^ byte) & 0xff]!;
  return crc >>> 0;
}

// ---------------------------------------------------------------------------------------------
// The projects' own restores, to check the fixtures

const DECOMPRESS: Record<Codec, string> = { zstd: 'zstd -dcq', gzip: 'pigz -dc', lz4: 'lz4 -dcq', bzip2: 'bzip2 -dc', xz: 'xz -dc', none: 'cat' };

/**
 * FOG's deploy of a FOG folder onto the blank disk file `target` (writeImage:
 * `cat pieces | <decompressor> | partclone.restore --ignore_crc`). A resizable image is laid on
 * its original table (restoreOriginalPartitions) and each shrunk filesystem grown back
 * (expandPartition), in place of FOG's proportional fill of the target disk.
 */
export function fogRestore(image: ForeignImage, target: string): void {
  const cat = (files: string[]): string => `cat ${files.map(q).join(' ')} | ${DECOMPRESS[image.codec]}`;
  const raw = image.streams.get(0);
  if (raw) {
    pipeline(`${cat(raw)} | partclone.restore --ignore_crc -s - -O ${q(target)}`);
    return;
  }
  const file = (suffix: string): string => join(image.folder, `d1${suffix}`);
  const mbr = readFileSync(file('.mbr'));
  if (mbr.subarray(512, 520).toString('latin1') === 'EFI PART') {
    if (existsSync(file('.grub.mbr'))) dd([`if=${file('.grub.mbr')}`, `of=${target}`, 'bs=512', 'conv=notrunc']);
    sh('sgdisk', [`--load-backup=${file('.mbr')}`, target]);
    if (image.shrunk) sh('sfdisk', ['--quiet', '--no-reread', target], readFileSync(file('.partitions'), 'utf8'));
  } else {
    dd([`if=${file('.mbr')}`, `of=${target}`, 'bs=512', 'conv=notrunc']);
    sh('sfdisk', ['--quiet', '--no-reread', target], readFileSync(file('.partitions'), 'utf8'));
  }
  for (const [number, files] of image.streams) {
    withLoop(target, placeOf(target, number), (dev) => {
      pipeline(`${cat(files)} | partclone.restore --ignore_crc -s - -o ${q(dev)}`);
      const type = filesystemOf(dev);
      // resetFlag: `ntfsfix -b -d`, which also writes the backup boot sector partclone leaves out.
      if (type === 'ntfs') sh('ntfsfix', ['-b', '-d', dev]);
      if (!image.shrunk) return;
      if (type === 'ext4') {
        sh('e2fsck', ['-fp', dev]);
        sh('resize2fs', [dev]);
      } else if (type === 'ntfs') execFileSync('ntfsresize', ['-f', dev], { input: 'y\n', stdio: ['pipe', 'ignore', 'pipe'] });
    });
  }
  const swaps = existsSync(file('.original.swapuuids')) ? readFileSync(file('.original.swapuuids'), 'utf8') : '';
  for (const line of swaps.split('\n').filter(Boolean)) {
    const [n, uuid] = line.split(' ');
    withLoop(target, placeOf(target, Number(n)), (dev) => sh('mkswap', ['-U', uuid!, dev]));
  }
}

/** Clonezilla's restoredisk of a folder onto the blank disk file `target` (checksums checked). */
export function clonezillaRestore(image: ForeignImage, target: string): void {
  const file = (n: string): string => join(image.folder, n);
  if (existsSync(file('sda-gpt.gdisk'))) sh('sgdisk', [`--load-backup=${file('sda-gpt.gdisk')}`, target]);
  else sh('sfdisk', ['--quiet', '--no-reread', target], readFileSync(file('sda-pt.sf'), 'utf8'));
  dd([`if=${file('sda-mbr')}`, `of=${target}`, 'bs=1', 'count=446', 'conv=notrunc']);
  if (existsSync(file('sda-hidden-data-after-mbr'))) dd([`if=${file('sda-hidden-data-after-mbr')}`, `of=${target}`, 'bs=512', 'seek=1', 'conv=notrunc']);
  for (const [number, files] of image.streams) {
    const name = basename(files[0]!);
    const codec = name.includes('.dd-img') ? sniffCodec(files[0]!) : codecOfSuffix(/-img\.([a-z0-9]+)/.exec(name)![1]!);
    const restore = name.includes('.dd-') ? `partclone.dd -z 16777216 -s - -o` : `partclone.restore -z 10485760 -s - -o`;
    withLoop(target, placeOf(target, number), (dev) => {
      pipeline(`cat ${files.map(q).join(' ')} | ${DECOMPRESS[codec]} | ${restore} ${q(dev)}`);
      // clear_ntfs_volume_dirty_flag: `ntfsfix -d`, which also writes the backup boot sector.
      if (filesystemOf(dev) === 'ntfs') sh('ntfsfix', ['-d', dev]);
    });
  }
  for (const f of readdirSync(image.folder).filter((n) => /^swappt-sda\d+\.info$/.test(n))) {
    const number = Number(/(\d+)\.info$/.exec(f)![1]);
    const info = readFileSync(file(f), 'utf8');
    const uuid = /^UUID="(.*)"$/m.exec(info)![1]!;
    const label = /^LABEL="(.*)"$/m.exec(info)![1]!;
    withLoop(target, placeOf(target, number), (dev) => sh('mkswap', [...(uuid ? ['-U', uuid] : []), ...(label ? ['-L', label] : []), dev]));
  }
}

/** blkid's TYPE, or '' when it finds no signature (it exits 2 then). */
function filesystemOf(dev: string): string {
  try {
    return sh('blkid', ['--probe', '--output', 'value', '--match-tag', 'TYPE', dev]).trim();
  } catch {
    return '';
  }
}

const codecOfSuffix = (s: string): Codec => ({ zst: 'zstd', gz: 'gzip', bz2: 'bzip2', xz: 'xz', lz4: 'lz4', uncomp: 'none' })[s] as Codec;

function sniffCodec(path: string): Codec {
  const head = Buffer.alloc(6);
  const fd = openSync(path, 'r');
  readSync(fd, head, 0, 6, 0);
  closeSync(fd);
  if (head.readUInt32LE(0) === 0xfd2fb528) return 'zstd';
  if (head[0] === 0x1f && head[1] === 0x8b) return 'gzip';
  if (head.subarray(0, 3).toString('latin1') === 'BZh') return 'bzip2';
  if (head.subarray(1, 5).toString('latin1') === '7zXZ') return 'xz';
  return 'none';
}

// ---------------------------------------------------------------------------------------------
// Damage

/** Cuts a stream file to `fraction` of its length (the tail of a copy that stopped early). */
export function truncateStream(path: string, fraction = 0.5): void {
  truncateSync(path, Math.floor(statSync(path).size * fraction));
}

/** Inverts `count` bytes at `fraction` of a file's length: corruption mid-stream. */
export function flipBytes(path: string, fraction = 0.5, count = 64): void {
  const at = Math.floor(statSync(path).size * fraction);
  const fd = openSync(path, 'r+');
  try {
    const buf = Buffer.alloc(count);
    const n = readSync(fd, buf, 0, count, at);
    for (let i = 0; i < n; i++) buf[i] = buf[i]! ^ 0xff;
    writeSync(fd, buf, 0, n, at);
  } finally {
    closeSync(fd);
  }
}

/**
 * Replaces a stream by one in a codec neither project reads back with what Shoal knows: lzop's
 * magic (Clonezilla's -z3 writes .lzo), then data. Renames it to `newName` when given.
 */
export function unknownCodec(path: string, newName?: string): string {
  writeFileSync(path, Buffer.concat([Buffer.from([0x89, 0x4c, 0x5a, 0x4f, 0x00, 0x0d, 0x0a, 0x1a, 0x0a]), randomBytes(4096)]));
  if (!newName) return path;
  const to = join(dirname(path), newName);
  renameSync(path, to);
  return to;
}

// ---------------------------------------------------------------------------------------------
// Checks of a deployed disk

/**
 * Every partition of `target` against the fixture disk it came from: each filesystem's own
 * check and its files by checksum, a raw partition byte for byte, swap's UUID (and label, when
 * the format keeps it: FOG keeps only the UUID).
 */
export function assertForeignDeployed(src: FixtureDisk, target: string, dir: string, opts: { swapLabel: boolean }): void {
  for (const part of src.parts) {
    if (part.fs === 'extended') continue;
    const place = placeOf(target, part.number);
    if (part.fs === 'none') {
      const a = readRange(src.path, part.start, part.size);
      const b = readRange(target, place.start, part.size);
      if (!a.equals(b)) throw new Error(`${target}: raw partition ${part.number} differs from the source's`);
      continue;
    }
    fsck(target, place.start, place.size, part.fs);
    if (part.fs === 'swap') {
      const got = fsIdentity(target, place.start, place.size);
      const want = fsIdentity(src.path, part.start, part.size);
      if (got.uuid !== want.uuid || (opts.swapLabel && got.label !== want.label))
        throw new Error(`${target}: swap ${part.number} is ${JSON.stringify(got)}, not ${JSON.stringify(want)}`);
      continue;
    }
    const want = src.files.get(part.number)!;
    const got = readFilesBack(target, place.start, place.size, part.fs, want, dir);
    for (const [rel, hash] of want) if (got.get(rel) !== hash) throw new Error(`${target}: partition ${part.number}: ${rel} differs`);
  }
}

export function readRange(path: string, start: number, length: number): Buffer {
  const buf = Buffer.alloc(length);
  const fd = openSync(path, 'r');
  try {
    readSync(fd, buf, 0, length, start);
  } finally {
    closeSync(fd);
  }
  return buf;
}

/** The GPT identities a deploy must keep: the disk GUID and each partition's GUID, type and name. */
export function gptIdentity(path: string): unknown {
  const t = tableOf(path);
  return {
    id: t.id,
    parts: t.partitions!.map((p) => {
      const { node, start: _start, size: _size, ...rest } = p;
      return { n: Number(/(\d+)$/.exec(node)![1]), ...rest };
    }),
  };
}
