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
import { open, stat } from 'node:fs/promises';
import { ShoalError } from '../../shared/errors.js';
import { run } from '../disk/exec.js';
import { exposeDisk, type ExposedDisk, type QemuFormat } from './storage-daemon.js';

/** What qemu calls each format Shoal reads, and what an admin calls it. */
const READABLE: Partial<Record<string, { format: QemuFormat; name: string }>> = {
  qcow2: { format: 'qcow2', name: 'qcow2' },
  vmdk: { format: 'vmdk', name: 'VMDK' },
  vpc: { format: 'vpc', name: 'VHD' },
  vhdx: { format: 'vhdx', name: 'VHDX' },
};

/** Formats whose metadata `qemu-img check` can verify (qemu has no checker for VMDK and VHD). */
const CHECKABLE: ReadonlySet<QemuFormat> = new Set(['qcow2', 'vhdx']);

export interface VirtualDiskFile {
  path: string;
  format: QemuFormat;
  name: string;
  virtualSize: number;
}

/**
 * The virtual-disk format of a regular file, from its contents (never its name), or undefined
 * for a plain raw disk-image file. Block devices are not asked about.
 */
export async function virtualDiskFormat(path: string): Promise<VirtualDiskFile | undefined> {
  const st = await stat(path).catch(() => undefined);
  if (!st?.isFile() || st.size === 0) return undefined; // probeDisk says what is wrong with it
  const head = await readAt(path, 0, 512);
  // A fixed VHD is the raw disk followed by a 512-byte footer; qemu's probe takes it for raw.
  const fixedVhd = st.size >= 1024 && (await readAt(path, st.size - 512, 8)).toString('latin1') === 'conectix';
  let info: { format: string; 'virtual-size': number; encrypted?: boolean };
  try {
    const args = ['info', '--output=json', ...(fixedVhd ? ['-f', 'vpc'] : []), path];
    info = JSON.parse((await run('qemu-img', args)).stdout) as typeof info;
  } catch (err) {
    const msg = (err as Error).message;
    // Without qemu-utils (a PC's boot image) plain files still work; a VM disk says what is missing.
    if (/qemu-img is not installed/.test(msg)) {
      if (fixedVhd || looksVirtual(head)) throw new ShoalError(`disk ${path} is a virtual-machine disk; reading it needs qemu-img (install qemu-utils)`);
      return undefined;
    }
    if (/lock|another process/i.test(msg)) throw new ShoalError(`disk ${path} is in use by another program (a running virtual machine?); shut it down first`);
    throw new ShoalError(`disk ${path} cannot be read as a disk: ${msg.replace(/^qemu-img .*? failed \(exit \d+\): /, '')}`);
  }
  if (info.format === 'raw') return undefined;
  const known = READABLE[info.format];
  if (!known) throw new ShoalError(`disk ${path} is a ${info.format} image; Shoal reads qcow2, VMDK, VHD and VHDX (convert it: qemu-img convert -O qcow2)`);
  if (info.encrypted) throw new ShoalError(`disk ${path} is encrypted; decrypt it first (qemu-img convert)`);
  return { path, format: known.format, name: known.name, virtualSize: info['virtual-size'] };
}

/** A qcow2, VMDK, VHD or VHDX signature at the start of the file. */
function looksVirtual(head: Buffer): boolean {
  const magic = head.toString('latin1', 0, 8);
  return (
    magic.startsWith('QFI\xfb') ||
    magic.startsWith('KDMV') ||
    magic === 'conectix' ||
    magic === 'vhdxfile' ||
    head.toString('latin1').startsWith('# Disk DescriptorFile')
  );
}

async function readAt(path: string, offset: number, length: number): Promise<Buffer> {
  const fh = await open(path, 'r');
  try {
    const buf = Buffer.alloc(length);
    const { bytesRead } = await fh.read(buf, 0, length, offset);
    return buf.subarray(0, bytesRead);
  } finally {
    await fh.close();
  }
}

/**
 * Refuses a virtual disk whose metadata qemu finds corrupt (a truncated or damaged qcow2 or VHDX)
 * before anything is read from it: its data would come back as errors or, worse, as zeros.
 * Leaked clusters (exit 3) are harmless to a reader.
 */
export async function assertIntact(disk: VirtualDiskFile): Promise<void> {
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
