/**
 * Which disk-image files are virtual-machine disks (qcow2, VMDK, VHD, VHDX), told from their
 * contents by qemu-img, never from their names. A capture reads such a file through qemu
 * (client/vm/); a deploy refuses it as a target, since it writes raw disks and would destroy it.
 */
import { open, stat } from 'node:fs/promises';
import { ShoalError } from '../../shared/errors.js';
import { run } from './exec.js';
import type { DiskInfo } from './device.js';

/** qemu's driver names of the formats Shoal reads and writes. */
export type QemuFormat = 'raw' | 'qcow2' | 'vmdk' | 'vpc' | 'vhdx';

/** What qemu calls each format Shoal reads, and what an admin calls it. */
const READABLE: Partial<Record<string, { format: QemuFormat; name: string }>> = {
  qcow2: { format: 'qcow2', name: 'qcow2' },
  vmdk: { format: 'vmdk', name: 'VMDK' },
  vpc: { format: 'vpc', name: 'VHD' },
  vhdx: { format: 'vhdx', name: 'VHDX' },
};

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
  let info: {
    format: string;
    'virtual-size': number;
    encrypted?: boolean;
    'backing-filename'?: string;
    'format-specific'?: { data?: { 'data-file'?: string; extents?: Array<{ filename?: string }> } };
  };
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
  // Whatever the file names besides itself would be read too, and a file can name any file of the
  // machine capturing it (a guest writing a qcow2 header into its own disk, say): such disks are
  // refused, not followed.
  const data = info['format-specific']?.data;
  const elsewhere = [
    info['backing-filename'],
    data?.['data-file'],
    ...(data?.extents ?? []).map((e) => e.filename).filter((f) => f !== undefined && f !== path),
  ].filter((f): f is string => Boolean(f));
  if (elsewhere.length) {
    throw new ShoalError(
      `disk ${path} reads from other files too (${elsewhere.join(', ')}); Shoal captures self-contained VM disks only (make one: qemu-img convert -O qcow2)`,
    );
  }
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

/** A deploy writes a raw disk: onto a VM disk file it would overwrite the file's own structure. */
export async function assertNotVirtualDisk(info: DiskInfo): Promise<void> {
  if (info.isBlockDevice) return;
  const vm = await virtualDiskFormat(info.path);
  if (vm) {
    const format = { qcow2: 'qcow2', vmdk: 'vmdk', vpc: 'vhd', vhdx: 'vhdx', raw: 'raw' }[vm.format];
    throw new ShoalError(
      `disk ${info.path} is a ${vm.name} file; a deploy would overwrite it as a raw disk (write a ${vm.name} file with: shoal export --format ${format})`,
    );
  }
}
