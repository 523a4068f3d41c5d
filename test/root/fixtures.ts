/**
 * Real disks for the root tests: disk-image files (or loop devices over them) with real partition
 * tables and real filesystems made by the real tools, filled with files whose checksums we keep.
 */
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync, truncateSync } from 'node:fs';
import { join, relative } from 'node:path';
import { tmpdir } from 'node:os';
import { z } from 'zod';

/**
 * What `sfdisk --json` prints: the fields the tests read checked, every other one kept as it came
 * (the tests compare whole tables). A table without partitions has no `partitions`.
 */
const SfdiskSchema = z.object({
  partitiontable: z.looseObject({
    label: z.string(),
    id: z.string(),
    partitions: z.array(z.looseObject({ node: z.string(), start: z.number(), size: z.number() })).optional(),
  }),
});
export type PartitionTable = z.infer<typeof SfdiskSchema>['partitiontable'];

if (process.getuid?.() !== 0) throw new Error('the tests in test/root need root (loop devices, mounts, partclone): run them as root');
/**
 * Every portal a root test starts holds its answers to their contract (a mismatch is a 500 naming
 * the route and the field): set here, which every root test imports, so that the portals started
 * in network namespaces and by the lab harnesses (scripts/lab/) inherit it too.
 */
process.env.SHOAL_CHECK_RESPONSES ??= '1';

export const MiB = 1024 * 1024;
export const sh = (cmd: string, args: string[], input?: string): string =>
  execFileSync(cmd, args, { input, encoding: 'utf8', stdio: ['pipe', 'pipe', 'pipe'] });

/** Everything a test makes is registered here and torn down by cleanup(), even when the test fails. */
const loops: string[] = [];
const mounts: string[] = [];
const dirs: string[] = [];

export function workDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'shoal-test-'));
  dirs.push(d);
  return d;
}

export function loop(file: string, offset = 0, size?: number): string {
  const args = ['--find', '--show', '--offset', String(offset)];
  if (size !== undefined) args.push('--sizelimit', String(size));
  const dev = sh('losetup', [...args, file]).trim();
  loops.push(dev);
  return dev;
}

export function unloop(dev: string): void {
  const i = loops.indexOf(dev);
  if (i >= 0) loops.splice(i, 1);
  for (let attempt = 0; attempt < 20; attempt++) {
    try {
      sh('losetup', ['--detach', dev]);
      return;
    } catch {
      execFileSync('sleep', ['0.1']);
    }
  }
}

export function cleanup(): void {
  for (const m of mounts.splice(0).reverse()) {
    try {
      sh('umount', [m]);
    } catch {
      try {
        sh('umount', ['-l', m]);
      } catch {
        /* already gone */
      }
    }
  }
  for (const l of loops.splice(0).reverse()) unloop(l);
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
}

export interface PartSpec {
  sizeMiB?: number; // undefined: the rest of the disk
  fs: 'vfat' | 'ext4' | 'ntfs' | 'swap' | 'none' | 'extended';
  type?: string;
  name?: string;
  label?: string;
  logical?: boolean;
}

export interface FixtureDisk {
  path: string;
  parts: Array<PartSpec & { number: number; start: number; size: number }>;
  /** partition number → relative path → sha256 */
  files: Map<number, Map<string, string>>;
}

const GPT_TYPES: Record<string, string> = {
  vfat: 'C12A7328-F81F-11D2-BA4B-00A0C93EC93B',
  ext4: '0FC63DAF-8483-4772-8E79-3D69D8477DE4',
  ntfs: 'EBD0A0A2-B9E5-4433-87C0-68B6B72699C7',
  swap: '0657FD6D-A4AB-43C4-84E5-0933C84B4F4F',
  none: '0FC63DAF-8483-4772-8E79-3D69D8477DE4',
};
const MBR_TYPES: Record<string, string> = { vfat: 'c', ext4: '83', ntfs: '7', swap: '82', none: '83', extended: '5' };

/** Makes a disk-image file with a table, filesystems and files. `fill` MiB of files per filesystem. */
export function makeDisk(dir: string, name: string, sizeMiB: number, label: 'gpt' | 'dos', parts: PartSpec[], fillMiB = 8): FixtureDisk {
  const path = join(dir, name);
  writeFileSync(path, '');
  truncateSync(path, sizeMiB * MiB);
  const lines = [`label: ${label}`, ''];
  let n = 0;
  for (const p of parts) {
    n = label === 'dos' && p.logical ? Math.max(n + 1, 5) : n + 1;
    const f = [`size=${p.sizeMiB ? `${p.sizeMiB}MiB` : '+'}`, `type=${p.type ?? (label === 'gpt' ? GPT_TYPES[p.fs] : MBR_TYPES[p.fs])}`];
    if (p.name && label === 'gpt') f.push(`name="${p.name}"`);
    lines.push(`${path}${n} : ${f.join(', ')}`);
  }
  sh('sfdisk', ['--quiet', path], lines.join('\n') + '\n');
  if (label === 'gpt') sh('sgdisk', ['--attributes=2:set:2', path]); // a legacy-BIOS-bootable flag to carry over
  const table = tableOf(path);
  const disk: FixtureDisk = { path, parts: [], files: new Map() };
  for (const [i, tp] of table.partitions!.entries()) {
    const spec = parts[i]!;
    const number = Number(/(\d+)$/.exec(tp.node)![1]);
    disk.parts.push({ ...spec, number, start: tp.start * 512, size: tp.size * 512 });
  }
  // Boot code and a GRUB-like blob in the post-MBR gap, so both must survive a round trip.
  const fd = randomBytes(440);
  execFileSync('dd', [`of=${path}`, 'bs=440', 'count=1', 'conv=notrunc', 'status=none'], { input: fd });
  if (label === 'dos') execFileSync('dd', [`of=${path}`, 'bs=512', 'seek=1', 'conv=notrunc', 'status=none'], { input: randomBytes(64 * 1024) });
  for (const p of disk.parts) {
    if (p.fs === 'extended') continue;
    const dev = loop(path, p.start, p.size);
    try {
      disk.files.set(p.number, formatAndFill(dev, p, dir, fillMiB));
    } finally {
      unloop(dev);
    }
  }
  return disk;
}

function formatAndFill(dev: string, p: PartSpec, dir: string, fillMiB: number): Map<string, string> {
  const files = new Map<string, string>();
  const content = (i: number): Buffer => (i % 2 ? randomBytes(256 * 1024) : Buffer.from(`compressible line ${i} `.repeat(20000)));
  switch (p.fs) {
    case 'swap':
      sh('mkswap', ['--label', p.label ?? 'swap', dev]);
      return files;
    case 'none':
      execFileSync('dd', [`of=${dev}`, 'bs=1M', 'count=2', 'iflag=fullblock', 'status=none'], { input: randomBytes(2 * MiB) });
      return files;
    case 'vfat': {
      sh('mkfs.vfat', ['-F', '32', '-n', p.label ?? 'EFI', dev]);
      const src = join(dir, `fat-src-${Math.random().toString(36).slice(2)}`);
      mkdirSync(join(src, 'EFI', 'BOOT'), { recursive: true });
      for (let i = 0; i < 4; i++) writeFileSync(join(src, 'EFI', 'BOOT', `F${i}.BIN`), content(i));
      sh('mcopy', ['-s', '-i', dev, join(src, 'EFI'), '::/']);
      for (const f of walk(src)) files.set(relative(src, f), sha256(readFileSync(f)));
      rmSync(src, { recursive: true });
      return files;
    }
    case 'ext4':
    case 'ntfs': {
      if (p.fs === 'ext4') sh('mkfs.ext4', ['-q', '-F', '-L', p.label ?? 'root', dev]);
      else sh('mkfs.ntfs', ['--quick', '--force', '--label', p.label ?? 'Windows', dev]);
      const mnt = mount(dev, p.fs, dir);
      try {
        mkdirSync(join(mnt, 'data', 'sub'), { recursive: true });
        const count = Math.max(2, Math.round(((fillMiB * MiB) / (256 * 1024 + 20 * 20000)) * 2));
        for (let i = 0; i < count; i++) {
          const rel = join('data', i % 3 ? 'sub' : '', `file-${i}.bin`);
          const buf = content(i);
          writeFileSync(join(mnt, rel), buf);
          files.set(rel, sha256(buf));
        }
      } finally {
        umount(mnt);
      }
      return files;
    }
    default:
      return files;
  }
}

export function mount(dev: string, fs: string, dir: string, readOnly = false): string {
  const mnt = join(dir, `mnt-${Math.random().toString(36).slice(2)}`);
  mkdirSync(mnt);
  if (fs === 'ntfs') sh('ntfs-3g', [...(readOnly ? ['-o', 'ro'] : []), dev, mnt]);
  else sh('mount', ['-t', fs, ...(readOnly ? ['-o', 'ro'] : []), dev, mnt]);
  mounts.push(mnt);
  return mnt;
}

export function umount(mnt: string): void {
  sh('umount', [mnt]);
  mounts.splice(mounts.indexOf(mnt), 1);
  rmSync(mnt, { recursive: true, force: true });
}

function walk(d: string): string[] {
  return readdirSync(d).flatMap((e) => (statSync(join(d, e)).isDirectory() ? walk(join(d, e)) : [join(d, e)]));
}

export const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

/** Reads every file back from a deployed partition and returns path → sha256 for those expected. */
export function readFilesBack(diskPath: string, start: number, size: number, fs: string, expected: Map<string, string>, dir: string): Map<string, string> {
  const dev = loop(diskPath, start, size);
  const got = new Map<string, string>();
  try {
    if (fs === 'vfat') {
      for (const rel of expected.keys()) {
        const out = join(dir, `mcopy-${Math.random().toString(36).slice(2)}`);
        sh('mcopy', ['-i', dev, `::/${rel}`, out]);
        got.set(rel, sha256(readFileSync(out)));
        rmSync(out);
      }
      return got;
    }
    const mnt = mount(dev, fs, dir, true);
    try {
      for (const rel of expected.keys()) got.set(rel, sha256(readFileSync(join(mnt, rel))));
    } finally {
      umount(mnt);
    }
    return got;
  } finally {
    unloop(dev);
  }
}

/** Each filesystem's own checker, read-only; throws when it finds anything. */
export function fsck(diskPath: string, start: number, size: number, fs: string): void {
  const dev = loop(diskPath, start, size);
  try {
    if (fs === 'ext4') sh('e2fsck', ['-f', '-n', dev]);
    else if (fs === 'ntfs') sh('ntfsfix', ['--no-action', dev]);
    else if (fs === 'vfat') sh('fsck.vfat', ['-n', dev]);
    else if (fs === 'swap') {
      const t = sh('blkid', ['--probe', '--output', 'value', '--match-tag', 'TYPE', dev]).trim();
      if (t !== 'swap') throw new Error(`no swap signature: ${t}`);
    }
  } finally {
    unloop(dev);
  }
}

export function tableOf(path: string): PartitionTable {
  return SfdiskSchema.parse(JSON.parse(sh('sfdisk', ['--json', path]))).partitiontable;
}

/** A new, empty disk-image file of the given size. */
export function blankDisk(path: string, bytes: number): string {
  writeFileSync(path, '');
  truncateSync(path, bytes);
  return path;
}

/** The size a filesystem says it has, in bytes (ext4 and NTFS), or undefined for others. */
export function filesystemBytes(diskPath: string, start: number, size: number, fs: string): number | undefined {
  if (fs !== 'ext4' && fs !== 'ntfs') return undefined;
  const dev = loop(diskPath, start, size);
  try {
    if (fs === 'ext4') {
      const dump = sh('dumpe2fs', ['-h', dev]);
      return Number(/^Block count:\s+(\d+)/m.exec(dump)![1]) * Number(/^Block size:\s+(\d+)/m.exec(dump)![1]);
    }
    return Number(/Current volume size: (\d+) bytes/.exec(sh('ntfsresize', ['--info', '--force', '--no-progress-bar', dev]))![1]);
  } finally {
    unloop(dev);
  }
}

/** blkid's UUID and LABEL of a partition. */
export function fsIdentity(diskPath: string, start: number, size: number): { uuid: string; label: string } {
  const dev = loop(diskPath, start, size);
  try {
    const tag = (t: string): string => sh('blkid', ['--probe', '--output', 'value', '--match-tag', t, dev]).trim();
    return { uuid: tag('UUID'), label: tag('LABEL') };
  } finally {
    unloop(dev);
  }
}

/**
 * Every partition of a deployed disk against its source: the filesystem's own check, swap's UUID
 * and label, and every file read back by checksum.
 */
export function assertPartitionsDeployed(src: FixtureDisk, target: string, dir: string): void {
  const placed = new Map(tableOf(target).partitions!.map((p) => [Number(/(\d+)$/.exec(p.node)![1]), p]));
  for (const part of src.parts) {
    if (part.fs === 'extended' || part.fs === 'none') continue;
    const p = placed.get(part.number);
    if (!p) throw new Error(`${target}: partition ${part.number} is missing`);
    fsck(target, p.start * 512, p.size * 512, part.fs);
    if (part.fs === 'swap') {
      const got = JSON.stringify(fsIdentity(target, p.start * 512, p.size * 512));
      const want = JSON.stringify(fsIdentity(src.path, part.start, part.size));
      if (got !== want) throw new Error(`${target}: swap recreated as ${got}, not ${want}`);
    }
    const want = src.files.get(part.number)!;
    if (!want.size) continue;
    const got = readFilesBack(target, p.start * 512, p.size * 512, part.fs, want, dir);
    for (const [rel, hash] of want) if (got.get(rel) !== hash) throw new Error(`${target}: partition ${part.number}: ${rel} differs`);
  }
}

/**
 * The lab PC of the swarm tests: a 320 MiB GPT disk with an EFI partition, an ext4 root, NTFS
 * (unless left out) and swap, 12 MiB of files in each filesystem.
 */
export function labPcDisk(dir: string, opts: { ntfs?: boolean } = {}): FixtureDisk {
  return makeDisk(
    dir,
    'src.img',
    320,
    'gpt',
    [
      { sizeMiB: 40, fs: 'vfat', name: 'EFI system' },
      { sizeMiB: 120, fs: 'ext4', name: 'root' },
      ...(opts.ntfs === false ? [] : [{ sizeMiB: 120, fs: 'ntfs' as const, name: 'Windows' }]),
      { fs: 'swap', name: 'swap' },
    ],
    12,
  );
}
