import { run } from './exec.js';

/**
 * Gives a slice of a disk its own loop device, so partclone, fsck and resize tools can work on a
 * partition of a disk-image file, and of a block device whose partitions the kernel did not scan.
 */
export async function withLoop<T>(
  diskPath: string,
  offsetBytes: number,
  sizeBytes: number,
  fn: (dev: string) => Promise<T>,
  opts: { readOnly?: boolean } = {},
): Promise<T> {
  const args = ['--find', '--show', '--offset', String(offsetBytes), '--sizelimit', String(sizeBytes)];
  if (opts.readOnly) args.push('--read-only');
  const dev = (await run('losetup', [...args, diskPath])).stdout.trim();
  try {
    return await fn(dev);
  } finally {
    await detachLoop(dev);
  }
}

async function detachLoop(dev: string): Promise<void> {
  // udev or a just-closed tool may hold the device for a moment; try a few times, then leave it.
  for (let attempt = 0; attempt < 20; attempt++) {
    try {
      await run('losetup', ['--detach', dev]);
      return;
    } catch {
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}
