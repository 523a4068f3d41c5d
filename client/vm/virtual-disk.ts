/**
 * Virtual-machine disks as capture sources: a `--disk` that is a qcow2, VMDK, VHD or VHDX file is
 * read through qemu (storage-daemon.ts) as the raw disk the VM sees, so a golden image kept as a
 * VM disk is captured like a real one: table, boot code, post-MBR gap, used blocks only.
 *
 * The file is never written. A resizable capture shrinks the source's filesystems and grows them
 * back; on a VM disk that happens in a temporary overlay (qemu's copy-on-write layer over the
 * file opened read-only), discarded afterwards: the image is the same as from a real disk, and the
 * admin's golden file stays byte for byte as it was, even when the capture is cut off.
 */
import { ShoalError } from '../../shared/errors.js';
import { run } from '../disk/exec.js';
import { virtualDiskFormat, type QemuFormat, type VirtualDiskFile } from '../disk/virtual-disk-format.js';
import { exposeDisk, type ExposedDisk } from './storage-daemon.js';
import { assertTablesInFile } from './allocation-tables.js';

/** Formats whose metadata `qemu-img check` can verify; qemu has no checker for VMDK and VHD (allocation-tables.ts). */
const CHECKABLE: ReadonlySet<QemuFormat> = new Set(['qcow2', 'vhdx']);

/**
 * Refuses a virtual disk whose metadata is corrupt (a truncated or damaged qcow2 or VHDX, as
 * qemu-img check finds; a VMDK or VHD cut short, as allocation-tables.ts finds) before anything is
 * read from it: its data would come back as errors or, worse, as zeros. Leaked clusters (exit 3)
 * are harmless to a reader.
 */
export async function assertIntact(disk: VirtualDiskFile): Promise<void> {
  if (disk.format === 'vmdk' || disk.format === 'vpc') return assertTablesInFile(disk.path, disk.format);
  if (!CHECKABLE.has(disk.format)) return;
  const res = await run('qemu-img', ['check', '--output=json', '-f', disk.format, disk.path], { okCodes: [1, 2, 3] });
  let report: { corruptions?: number; 'check-errors'?: number } = {};
  try {
    report = JSON.parse(res.stdout) as typeof report;
  } catch {
    /* no report: judged by the exit code below */
  }
  const corruptions = report.corruptions ?? 0;
  const errors = report['check-errors'] ?? 0;
  if (res.code === 1 || res.code === 2 || corruptions || errors) {
    const why = corruptions
      ? `${corruptions} corruptions`
      : errors
        ? `${errors} errors while checking`
        : (res.stderr.trim().split('\n').pop() ?? `exit ${res.code}`);
    throw new ShoalError(`disk ${disk.path} is a damaged ${disk.name} file (qemu-img check: ${why}); repair it or capture another copy`);
  }
}

/**
 * Runs `fn` with a raw path for each disk: the disk itself for a block device or a raw file, a
 * qemu export for a virtual disk (read-only, or over a discarded overlay when `writable`). Every
 * export is closed when `fn` ends, however it ends.
 */
export async function withRawDisks<T>(disks: string[], opts: { writable: boolean; scratchDir: string }, fn: (paths: string[]) => Promise<T>): Promise<T> {
  const formats = await Promise.all(disks.map(virtualDiskFormat));
  for (const f of formats) if (f) await assertIntact(f);
  const exposed: ExposedDisk[] = [];
  try {
    const paths: string[] = [];
    for (const [i, f] of formats.entries()) {
      if (!f) {
        paths.push(disks[i]!);
        continue;
      }
      const e = await exposeDisk(f.path, f.format, { kind: opts.writable ? 'overlay' : 'read-only' }, opts.scratchDir);
      exposed.push(e);
      paths.push(e.rawPath);
    }
    return await fn(paths);
  } finally {
    for (const e of exposed.reverse()) await e.close();
  }
}
