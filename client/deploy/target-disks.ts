import { open } from 'node:fs/promises';
import { ShoalError } from '../../shared/errors.js';
import type { Area, Disk, Manifest } from '../../shared/image/manifest.js';
import { assertRunsInside, type AreaPlacement } from '../../shared/image/piece-map.js';
import { openImage } from '../../shared/image/store.js';
import { assertNotMounted, probeDisk, readBytes, rereadPartitions, writeBytes, type DiskInfo } from '../disk/device.js';
import { layoutFor, type PlacedPartition } from '../disk/layout.js';
import { assertNotVirtualDisk } from '../disk/virtual-disk-format.js';
import { writeBootCode, writeTable } from '../disk/partition-table.js';
import { run } from '../disk/exec.js';
import { withLoop } from '../disk/loop.js';
import * as fsx from '../disk/filesystems.js';
import { assertPieceFiles, runPieceJobs } from '../piece-workers/piece-jobs.js';
import { silentProgress, type Progress } from '../console/progress.js';
import { timed } from '../../shared/log.js';

export interface DeployRequest {
  store: string;
  image: string;
  version?: number;
  disks: string[];
  progress?: (label: string, totalBytes: number) => Progress;
}

export interface TargetPlan {
  disk: Disk;
  target: DiskInfo;
  layout: PlacedPartition[];
  placements: Array<{ area: Area; placement: AreaPlacement }>;
}

export async function deploy(req: DeployRequest): Promise<Manifest> {
  const { dir, manifest } = await openImage(req.store, req.image, req.version);
  const plans = await prepareTargets(manifest, req.disks);
  await assertPieceFiles(manifest, dir);
  await wipeTables(plans);
  await timed('write pieces', () => runPieceJobs(manifest, dir, plans, req.progress ?? silentProgress));
  await finishTargets(plans);
  return manifest;
}

/**
 * Checks every target against the image and lays it out, before anything is written: sizes,
 * sector sizes, mounts, every run of every piece inside its partition and the disk.
 */
export async function prepareTargets(manifest: Manifest, disks: string[]): Promise<TargetPlan[]> {
  if (disks.length !== manifest.disks.length) {
    throw new ShoalError(`image ${manifest.name} holds ${manifest.disks.length} disk(s); ${disks.length} --disk given`);
  }
  if (new Set(disks).size !== disks.length) throw new ShoalError('the same disk is given twice');
  const plans: TargetPlan[] = [];
  for (const [i, disk] of manifest.disks.entries()) {
    const target = await probeDisk(disks[i]!);
    await assertNotVirtualDisk(target);
    await assertNotMounted(target);
    plans.push(await planTarget(manifest, disk, target));
  }
  return plans;
}

/**
 * The old table goes first and the new one comes last: a deploy cut off half-way leaves a disk
 * with no table, which a PC will not try to boot, rather than a table over half-written data.
 */
export async function wipeTables(plans: TargetPlan[]): Promise<void> {
  for (const plan of plans) {
    if (plan.disk.table.kind === 'none') continue;
    withoutTable.add(plan.target.path);
    await run('wipefs', ['--all', '--quiet', '--force', plan.target.path]);
  }
}

/** Disks this process wiped whose new table is not written yet. */
const withoutTable = new Set<string>();

/** Whether a disk of this process is left without a partition table (a deploy failed between the wipe and the end). */
export const disksWithoutTable = (): string[] => [...withoutTable];

/** After every piece is on disk: swap, grown filesystems, NTFS boot sectors, then the table. */
export async function finishTargets(plans: TargetPlan[]): Promise<void> {
  for (const plan of plans) {
    await timed('finish partitions', () => finishPartitions(plan));
    if (plan.disk.table.kind !== 'none') {
      await writeTable(
        plan.target.path,
        { kind: plan.disk.table.kind, id: plan.disk.table.id, firstLba: plan.disk.table.firstLba },
        plan.layout,
        plan.disk.logicalSectorBytes,
      );
      await writeBootCode(plan.target.path, plan.disk.table.bootCode, plan.target.sizeBytes);
    }
    const fh = await open(plan.target.path, 'r+');
    await fh.sync();
    await fh.close();
    withoutTable.delete(plan.target.path);
    await rereadPartitions(plan.target);
  }
}

async function planTarget(m: Manifest, disk: Disk, target: DiskInfo): Promise<TargetPlan> {
  if (target.logicalSectorBytes !== disk.logicalSectorBytes) {
    throw new ShoalError(
      `disk ${target.path} has ${target.logicalSectorBytes}-byte sectors; the image was captured from ${disk.logicalSectorBytes}-byte sectors`,
    );
  }
  if (m.type === 'raw' && target.sizeBytes < disk.sizeBytes) {
    throw new ShoalError(`disk ${target.path} is too small: ${target.sizeBytes} bytes, the raw image needs ${disk.sizeBytes}`);
  }
  const layout = m.type === 'raw' ? [] : layoutFor(m.type, disk, target.sizeBytes, target.path);
  const placements = disk.areas.map((area) => {
    let placement: AreaPlacement;
    if (area.kind === 'partition') {
      const p = layout.find((q) => q.number === area.partitionNumber)!;
      placement = { areaId: area.id, diskOffset: p.startBytes, limitBytes: p.sizeBytes };
    } else if (area.kind === 'head') {
      const tableEnd = disk.table.kind === 'gpt' ? (disk.table.firstLba ?? 34) * disk.logicalSectorBytes : disk.logicalSectorBytes;
      placement = { areaId: area.id, diskOffset: tableEnd, limitBytes: area.sizeBytes };
    } else placement = { areaId: area.id, diskOffset: 0, limitBytes: area.sizeBytes };
    area.pieces.forEach((piece, index) => assertRunsInside(piece.runs, placement, target.sizeBytes, `disk ${target.path}: piece ${index} of ${area.id}`));
    return { area, placement };
  });
  return { disk, target, layout, placements };
}

/** Swap is made anew; a resizable filesystem learns where it now starts and grows into its partition. */
async function finishPartitions(plan: TargetPlan): Promise<void> {
  for (const p of plan.layout) {
    if (p.filesystem === 'swap') {
      await withLoop(plan.target.path, p.startBytes, p.sizeBytes, (dev) => fsx.recreateSwap(dev, p.fsUuid, p.fsLabel));
    }
    if (p.resizable && p.sizeBytes > p.fsSizeBytes) {
      await withLoop(plan.target.path, p.startBytes, p.sizeBytes, (dev) => fsx.resizeFilesystem(p.filesystem, dev));
    }
    if (p.filesystem === 'ntfs') await fixNtfsBootSectors(plan, p);
  }
}

/**
 * NTFS records its partition's first sector ("hidden sectors"), and Windows will not boot when it
 * is stale; and its backup boot sector belongs at the volume's end, which tools look for at the
 * partition's last sector (where mkntfs puts it, but not ntfsresize). Both are set here.
 */
async function fixNtfsBootSectors(plan: TargetPlan, p: PlacedPartition): Promise<void> {
  const ss = plan.disk.logicalSectorBytes;
  const boot = await readBytes(plan.target.path, p.startBytes, 512);
  if (boot.toString('ascii', 3, 7) !== 'NTFS') return;
  // The field is 32 bits wide; past 2 TiB (512-byte sectors) Windows does not use it.
  if (p.startBytes / ss <= 0xffffffff) boot.writeUInt32LE(p.startBytes / ss, 0x1c);
  await writeBytes(plan.target.path, p.startBytes, boot, plan.target.sizeBytes);
  const volumeEnd = p.startBytes + Number(boot.readBigUInt64LE(0x28)) * boot.readUInt16LE(0x0b);
  const partitionEnd = p.startBytes + p.sizeBytes - 512;
  for (const at of new Set([volumeEnd, partitionEnd])) {
    if (at > p.startBytes && at + 512 <= p.startBytes + p.sizeBytes) await writeBytes(plan.target.path, at, boot, plan.target.sizeBytes);
  }
}
