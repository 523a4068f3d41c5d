import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ShoalError } from '../../shared/errors.js';
import type { Filesystem } from '../../shared/image/manifest.js';
import { MIB } from '../../shared/units.js';
import { run } from './exec.js';
import { readBytes } from './device.js';

/** partclone's tool for each filesystem it knows; everything else is captured raw. */
const PARTCLONE_TOOL: Partial<Record<Filesystem, string>> = {
  ext2: 'extfs',
  ext3: 'extfs',
  ext4: 'extfs',
  ntfs: 'ntfs',
  vfat: 'fat',
  exfat: 'exfat',
  xfs: 'xfs',
  btrfs: 'btrfs',
  f2fs: 'f2fs',
  hfsplus: 'hfsplus',
  minix: 'minix',
  apfs: 'apfs',
};

export const RESIZABLE_FILESYSTEMS: ReadonlySet<Filesystem> = new Set(['ext2', 'ext3', 'ext4', 'ntfs']);

export interface FsInfo {
  filesystem: Filesystem;
  label?: string;
  uuid?: string;
}

export async function detectFilesystem(dev: string): Promise<FsInfo> {
  // blkid exits 2 when it finds no signature: that partition is captured raw.
  const res = await run('blkid', ['--probe', '--output', 'export', dev], { okCodes: [2] });
  const vars = Object.fromEntries(
    res.stdout
      .split('\n')
      .filter((l) => l.includes('='))
      .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
  );
  const type = vars.TYPE;
  const known = type === 'swap' || (type !== undefined && type in PARTCLONE_TOOL);
  return {
    filesystem: known ? (type as Filesystem) : 'raw',
    ...(vars.LABEL !== undefined && { label: vars.LABEL }),
    ...(vars.UUID !== undefined && { uuid: vars.UUID }),
  };
}

export type Extent = [offset: number, length: number];

/** Used extents of a filesystem partclone knows, from its domain map (`-D`), sorted and merged. */
export async function usedExtents(fs: Filesystem, dev: string, sizeBytes: number): Promise<Extent[]> {
  const tool = PARTCLONE_TOOL[fs];
  if (!tool) return sizeBytes > 0 ? [[0, sizeBytes]] : [];
  const dir = await mkdtemp(join(tmpdir(), 'shoal-map-'));
  try {
    const map = join(dir, 'domain.map');
    const logfile = join(dir, 'partclone.log');
    try {
      await run(`partclone.${tool}`, ['--domain', '--source', dev, '--output', map, '--logfile', logfile, '--quiet']);
    } catch (err) {
      // partclone's exit message only points at its log; the reason is in the log.
      const log = await readFile(logfile, 'utf8').catch(() => '');
      const reason = log
        .split('\n')
        .map((l) => l.trim())
        .filter((l) => l && !/partclone fail|error exit|^partclone v|^starting to/i.test(l))
        .pop();
      throw new ShoalError(`partclone.${tool} cannot map the used blocks of ${dev}${reason ? `: ${reason}` : ''} (${(err as Error).message})`);
    }
    const extents: Extent[] = [];
    for (const line of (await readFile(map, 'utf8')).split('\n')) {
      const m = /^\s*(0x[0-9a-fA-F]+)\s+(0x[0-9a-fA-F]+)\s+\+\s*$/.exec(line);
      if (m) extents.push([parseInt(m[1]!, 16), parseInt(m[2]!, 16)]);
    }
    if (fs === 'ntfs') extents.push(...(await ntfsBackupBootSector(dev)), [sizeBytes - 512, 512]);
    return mergeExtents(extents, sizeBytes);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** partclone's NTFS map leaves out the backup boot sector at the volume's end; Windows wants it. */
async function ntfsBackupBootSector(dev: string): Promise<Extent[]> {
  const boot = await readBytes(dev, 0, 512);
  const bytesPerSector = boot.readUInt16LE(0x0b);
  const sectors = Number(boot.readBigUInt64LE(0x28));
  return bytesPerSector > 0 ? [[sectors * bytesPerSector, bytesPerSector]] : [];
}

export function mergeExtents(extents: Extent[], limit: number): Extent[] {
  const sorted = extents.filter(([, l]) => l > 0).sort((a, b) => a[0] - b[0]);
  const out: Extent[] = [];
  for (const [off, len] of sorted) {
    const end = Math.min(off + len, limit);
    if (end <= off) continue;
    const last = out[out.length - 1];
    if (last && off <= last[0] + last[1]) last[1] = Math.max(last[1], end - last[0]);
    else out.push([off, end - off]);
  }
  return out;
}

/** Refuses to shrink a filesystem that is not clean: shrinking a damaged one can lose data. */
export async function checkFilesystem(fs: Filesystem, dev: string, what: string): Promise<void> {
  try {
    if (fs === 'ntfs') await run('ntfsresize', ['--check', '--no-progress-bar', dev]);
    else await run('e2fsck', ['-f', '-n', dev]);
  } catch (err) {
    throw new ShoalError(`${what}: the ${fs} filesystem fails its check, so it will not be shrunk (repair it first): ${(err as Error).message}`);
  }
}

/** Filesystem size in bytes as the filesystem itself records it. */
export async function filesystemBytes(fs: Filesystem, dev: string): Promise<number> {
  if (fs === 'ntfs') {
    const boot = await readBytes(dev, 0, 512);
    // The volume ends with its backup boot sector, one past the sector count.
    return (Number(boot.readBigUInt64LE(0x28)) + 1) * boot.readUInt16LE(0x0b);
  }
  const out = (await run('dumpe2fs', ['-h', dev])).stdout;
  return ext4Field(out, 'Block count') * ext4Field(out, 'Block size');
}

function ext4Field(dump: string, name: string): number {
  const m = new RegExp(`^${name}:\\s+(\\d+)`, 'm').exec(dump);
  if (!m) throw new ShoalError(`dumpe2fs did not report "${name}"`);
  return Number(m[1]);
}

/** The smallest the filesystem can be shrunk to, in bytes, before our margin. */
export async function minimumBytes(fs: Filesystem, dev: string): Promise<number> {
  if (fs === 'ntfs') {
    const out = (await run('ntfsresize', ['--info', '--force', '--no-progress-bar', dev])).stdout;
    const m = /You might resize at (\d+) bytes/.exec(out);
    if (m) return Number(m[1]);
    // Already at its minimum: ntfsresize says so instead of giving a size.
    return filesystemBytes(fs, dev);
  }
  const out = (await run('resize2fs', ['-P', dev])).stdout;
  const m = /minimum size of the filesystem:\s*(\d+)/.exec(out);
  if (!m) throw new ShoalError(`resize2fs -P gave no minimum size for ${dev}`);
  const dump = (await run('dumpe2fs', ['-h', dev])).stdout;
  return Number(m[1]) * ext4Field(dump, 'Block size');
}

/** Room left above the minimum so the filesystem stays usable: 5 % and 16 MiB, rounded to 1 MiB. */
export function shrinkTarget(minimum: number, current: number): number {
  const withMargin = Math.ceil((minimum * 1.05 + 16 * MIB) / MIB) * MIB;
  return Math.min(withMargin, current);
}

/** Resizes to `bytes`, or to fill the device when bytes is undefined. */
export async function resizeFilesystem(fs: Filesystem, dev: string, bytes?: number): Promise<void> {
  if (fs === 'ntfs') {
    // ntfsresize asks for confirmation on a terminal; --force and "y" answer it in a script.
    const size = bytes === undefined ? [] : ['--size', String(bytes)];
    await run('ntfsresize', ['--force', '--force', '--no-progress-bar', ...size, dev], { input: 'y\n' });
    // ntfsresize leaves the volume marked for a Windows check; the volume was checked before the
    // shrink, so clear the mark (as FOG does) or partclone and Windows would balk at it.
    await run('ntfsfix', ['--clear-dirty', dev]);
    return;
  }
  await run('e2fsck', ['-f', '-y', dev], { okCodes: [1] });
  await run('resize2fs', ['-f', dev, ...(bytes === undefined ? [] : [`${Math.floor(bytes / 1024)}K`])]);
}

export async function recreateSwap(dev: string, uuid: string | undefined, label: string | undefined): Promise<void> {
  await run('mkswap', [...(uuid ? ['--uuid', uuid] : []), ...(label ? ['--label', label] : []), dev]);
}
