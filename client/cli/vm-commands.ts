/** The CLI's virtual-machine disk commands: `shoal export`. (Capture reads VM disks by itself.) */
import { InvalidArgumentError, Option, type Command } from 'commander';
import { positiveInt } from './values.js';
import { createProgress, formatBytes } from '../console/progress.js';
import { EXPORT_FORMATS, exportImage, type ExportFormat } from '../vm/vm-export.js';

const UNITS: Record<string, number> = { '': 1, K: 2 ** 10, M: 2 ** 20, G: 2 ** 30, T: 2 ** 40 };

/** Bytes, or a number with a binary suffix as qemu-img takes it: 20G, 512M (a whole number of 512-byte sectors). */
export const diskSize = (v: string): number => {
  const m = /^(\d+(?:\.\d+)?)\s*([KMGT]?)(?:i?B)?$/i.exec(v.trim());
  const n = m ? Number(m[1]) * UNITS[m[2]!.toUpperCase()]! : NaN;
  if (!Number.isSafeInteger(n) || n <= 0 || n % 512) throw new InvalidArgumentError('must be a size in bytes (or with K, M, G, T), a multiple of 512');
  return n;
};

export function addVmCommands(program: Command): void {
  program
    .command('export')
    .description('write an image as a virtual-machine disk file (or a raw disk image) that a hypervisor boots')
    .requiredOption('--store <dir>', 'image store directory')
    .requiredOption('--image <name>', 'image name')
    .addOption(
      new Option('--format <format>', 'raw, qcow2 (qemu/KVM, Proxmox), vmdk (VMware, monolithicSparse), vhd (Hyper-V gen 1, dynamic), vhdx (Hyper-V)')
        .choices(EXPORT_FORMATS)
        .makeOptionMandatory(),
    )
    .requiredOption('--out <file>', 'the disk file to write')
    .option('--version <n>', 'image version (default: the newest)', positiveInt)
    .option('--size <bytes>', "the virtual disk's size, e.g. 40G (default: the captured disk's size)", diskSize)
    .option('--force', 'replace --out if it exists')
    .action(async (o: { store: string; image: string; format: ExportFormat; out: string; version?: number; size?: number; force?: boolean }) => {
      const r = await exportImage({
        store: o.store,
        image: o.image,
        version: o.version,
        format: o.format,
        out: o.out,
        force: o.force,
        sizeBytes: o.size,
        progress: createProgress,
      });
      console.log(
        `exported ${r.manifest.name} v${r.manifest.version} to ${o.out}: ${o.format}, a ${formatBytes(r.sizeBytes)} disk in ${formatBytes(r.fileBytes)} of file`,
      );
    });
}
