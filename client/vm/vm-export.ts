/**
 * `shoal export`: an image as a disk file a hypervisor boots. The new file is created empty in
 * its format by qemu-img, exposed writable through qemu (storage-daemon.ts) and the ordinary
 * deploy writes the image into it: only the image's data is written, zeros become unallocated
 * clusters, and no raw copy of the whole disk is ever made in between. `raw` is a deploy into a
 * new sparse file.
 *
 * The file appears under its name only when complete: everything goes to FILE.partial, renamed at
 * the end and removed on failure or Ctrl-C. An existing FILE is kept unless `force`.
 */
import { rmSync } from 'node:fs';
import { rename, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { resolve } from 'node:path';
import { ShoalError } from '../../shared/errors.js';
import { openImage } from '../../shared/image/store.js';
import type { Manifest } from '../../shared/image/manifest.js';
import { deploy } from '../deploy/target-disks.js';
import { run } from '../disk/exec.js';
import type { Progress } from '../console/progress.js';
import { exposeDisk, type QemuFormat } from './storage-daemon.js';
import { assertIntact } from './virtual-disk.js';

export const EXPORT_FORMATS = ['raw', 'qcow2', 'vmdk', 'vhd', 'vhdx'] as const;
export type ExportFormat = (typeof EXPORT_FORMATS)[number];

/**
 * How each format is made. `direct`: the deploy writes into the new file itself, and the zeros it
 * writes cost no space (holes in a raw file, unallocated clusters in qcow2). qemu's VHD and VHDX
 * drivers store written zeros as data, and its VMDK driver writes zeroed grains slowly (14 s
 * against 2 s for a 512 MiB disk), so those are deployed into a qcow2 first and converted
 * (qemu-img convert writes only what holds data): the data is written twice, the whole disk never.
 */
const QEMU: Record<ExportFormat, { driver: QemuFormat; name: string; create: string[]; direct: boolean }> = {
  raw: { driver: 'raw', name: 'raw', create: [], direct: true },
  qcow2: { driver: 'qcow2', name: 'qcow2', create: [], direct: true },
  // monolithicSparse: one growable file that VMware Workstation, VirtualBox and qemu open
  // (ESXi wants its own layout: vmkfstools -i converts it).
  vmdk: { driver: 'vmdk', name: 'VMDK', create: ['-o', 'subformat=monolithicSparse'], direct: false },
  // Dynamic, and exactly the disk's size (qemu would round a VHD to a CHS geometry). Azure wants
  // fixed VHDs: qemu-img convert -O vpc -o subformat=fixed,force_size=on.
  vhd: { driver: 'vpc', name: 'VHD', create: ['-o', 'subformat=dynamic,force_size=on'], direct: false },
  vhdx: { driver: 'vhdx', name: 'VHDX', create: [], direct: false },
};

export interface ExportRequest {
  store: string;
  image: string;
  version?: number;
  format: ExportFormat;
  out: string;
  /** Replace an existing `out`. */
  force?: boolean;
  /** The virtual disk's size; default the captured disk's. */
  sizeBytes?: number;
  progress?: (label: string, totalBytes: number) => Progress;
}

export async function exportImage(req: ExportRequest): Promise<{ manifest: Manifest; out: string; sizeBytes: number; fileBytes: number }> {
  const fmt = QEMU[req.format];
  if (!fmt) throw new ShoalError(`--format ${req.format}: the format must be one of ${EXPORT_FORMATS.join(', ')}`);
  const { manifest } = await openImage(req.store, req.image, req.version);
  if (manifest.disks.length !== 1) {
    throw new ShoalError(`image ${manifest.name} v${manifest.version} holds ${manifest.disks.length} disks; export writes one virtual disk`);
  }
  const out = resolve(req.out);
  const existing = await stat(out).catch(() => undefined);
  if (existing && !existing.isFile()) throw new ShoalError(`--out ${req.out} exists and is not a regular file`);
  if (existing && !req.force) throw new ShoalError(`--out ${req.out} exists; give --force to replace it`);
  const sizeBytes = req.sizeBytes ?? manifest.disks[0]!.sizeBytes;
  const partial = `${out}.partial`;
  // Ctrl-C or a kill: no half-written file stays behind (the daemon is stopped by its exit hook).
  const onSignal = (signal: NodeJS.Signals): void => {
    process.stderr.write(`shoal: ${signal}: export stopped, ${partial} removed\n`);
    process.exit(130);
  };
  const removePartial = (): void => {
    rmSync(partial, { force: true });
    rmSync(`${partial}.qcow2`, { force: true });
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  process.once('exit', removePartial);
  try {
    removePartial(); // a killed earlier export's leftovers
    const staged = fmt.direct ? partial : `${partial}.qcow2`;
    const driver = fmt.direct ? fmt.driver : 'qcow2';
    await run('qemu-img', ['create', '-q', '-f', driver, ...(fmt.direct ? fmt.create : []), staged, String(sizeBytes)]);
    const disk = await exposeDisk(staged, driver, { kind: 'writable' }, tmpdir());
    try {
      await deploy({ store: req.store, image: req.image, version: manifest.version, disks: [disk.rawPath], progress: req.progress });
    } finally {
      await disk.close(); // flushes qemu's metadata into the file
    }
    if (!fmt.direct) {
      await run('qemu-img', ['convert', '-f', 'qcow2', '-O', fmt.driver, ...fmt.create, staged, partial]);
      await rm(staged, { force: true });
    }
    await assertIntact({ path: partial, format: fmt.driver, name: fmt.name, virtualSize: sizeBytes });
    await rename(partial, out);
    const st = await stat(out);
    return { manifest, out, sizeBytes, fileBytes: st.blocks * 512 };
  } finally {
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
    process.removeListener('exit', removePartial);
    removePartial(); // after a failure; after success it is renamed already
  }
}
