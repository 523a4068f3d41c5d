import { stat, open } from 'node:fs/promises';
import { ShoalError } from '../../shared/errors.js';
import { run } from './exec.js';

export interface DiskInfo {
  path: string;
  sizeBytes: number;
  logicalSectorBytes: number;
  isBlockDevice: boolean;
}

/** A disk is a block device or a regular disk-image file; anything else is refused. */
export async function probeDisk(path: string): Promise<DiskInfo> {
  let st;
  try {
    st = await stat(path);
  } catch {
    throw new ShoalError(`disk ${path} does not exist`);
  }
  if (st.isBlockDevice()) {
    const size = Number((await run('blockdev', ['--getsize64', path])).stdout.trim());
    const sector = Number((await run('blockdev', ['--getss', path])).stdout.trim());
    return { path, sizeBytes: size, logicalSectorBytes: sector, isBlockDevice: true };
  }
  if (st.isFile()) {
    if (st.size === 0) throw new ShoalError(`disk ${path} is an empty file`);
    // A disk-image file has no sector size of its own; 512 is what every tool assumes for it.
    return { path, sizeBytes: st.size, logicalSectorBytes: 512, isBlockDevice: false };
  }
  throw new ShoalError(`disk ${path} is neither a block device nor a disk-image file`);
}

export async function readBytes(path: string, offset: number, length: number): Promise<Buffer> {
  const fh = await open(path, 'r');
  try {
    const buf = Buffer.alloc(length);
    const { bytesRead } = await fh.read(buf, 0, length, offset);
    return buf.subarray(0, bytesRead);
  } finally {
    await fh.close();
  }
}

/** Writes inside [0, sizeBytes) only; the caller has already bounded `offset` by the disk's size. */
export async function writeBytes(path: string, offset: number, data: Buffer, sizeBytes: number): Promise<void> {
  if (offset < 0 || offset + data.length > sizeBytes) throw new ShoalError(`refusing to write ${data.length} bytes at ${offset}: outside the disk ${path}`);
  const fh = await open(path, 'r+');
  try {
    await fh.write(data, 0, data.length, offset);
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/**
 * Refuses a disk that is in use: a mounted partition of it, or (for a disk-image file) a loop
 * device over it that is mounted. Writing under a mounted filesystem destroys it; reading one
 * captures a state no filesystem ever had.
 */
export async function assertNotMounted(info: DiskInfo): Promise<void> {
  const devices = info.isBlockDevice
    ? [info.path]
    : (await run('losetup', ['--associated', info.path, '--noheadings', '--output', 'NAME'], { okCodes: [1] })).stdout
        .split('\n')
        .map((l) => l.trim())
        .filter(Boolean);
  for (const dev of devices) {
    const res = await run('lsblk', ['--noheadings', '--raw', '--output', 'NAME,MOUNTPOINT', dev], { okCodes: [1, 32] });
    const mounted = res.stdout
      .split('\n')
      .map((l) => l.trim().split(' '))
      .filter((f) => f.length > 1 && f[1]);
    if (mounted.length) {
      const what = mounted.map(([name, mnt]) => `/dev/${name} on ${mnt!.replace(/\\x20/g, ' ')}`).join(', ');
      throw new ShoalError(`disk ${info.path} is in use (${what}); unmount it first`);
    }
  }
}

/** Tells the kernel about a block device's new partition table; harmless where it cannot. */
export async function rereadPartitions(info: DiskInfo): Promise<void> {
  if (info.isBlockDevice) await run('blockdev', ['--rereadpt', info.path]).catch(() => {});
}
