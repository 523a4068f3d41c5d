/**
 * Where each partition of an image goes on a target disk. multipart and alldisks keep every
 * partition where it was; resizable keeps fixed partitions' sizes and shares the rest of the
 * target among the resizable ones in proportion to their captured sizes.
 */
import { ShoalError } from '../../shared/errors.js';
import type { Disk, ImageType, Partition } from '../../shared/image/manifest.js';
import { PARTITION_ALIGN_BYTES } from '../../shared/units.js';
import { formatBytes } from '../console/progress.js';

export interface PlacedPartition extends Partition {
  /** Where the partition starts on the captured disk, for moving its backup boot sector and the like. */
  sourceStartBytes: number;
}

/** Bytes GPT keeps at the disk's end for its backup entries and header (33 sectors of 512 B). */
const gptTailBytes = (disk: Disk): number => (disk.table.kind === 'gpt' ? 33 * disk.logicalSectorBytes : 0);
const alignUp = (n: number, a: number): number => Math.ceil(n / a) * a;
const alignDown = (n: number, a: number): number => Math.floor(n / a) * a;

export function layoutFor(type: ImageType, disk: Disk, targetBytes: number, targetPath: string): PlacedPartition[] {
  const keep = (): PlacedPartition[] => disk.partitions.map((p) => ({ ...p, sourceStartBytes: p.startBytes }));
  if (type !== 'resizable') {
    if (targetBytes < disk.sizeBytes) {
      throw new ShoalError(
        `disk ${targetPath} is too small: ${formatBytes(targetBytes)}, the ${type} image needs ${formatBytes(disk.sizeBytes)} (${disk.sizeBytes} bytes)`,
      );
    }
    return keep();
  }
  const usableEnd = alignDown(targetBytes - gptTailBytes(disk), disk.logicalSectorBytes);
  const resizable = disk.partitions.filter((p) => p.resizable);
  // Pass 1: every resizable partition at its minimum tells how much room is left to share.
  const atMinimum = place(disk, (p) => (p.resizable ? alignUp(p.minSizeBytes, PARTITION_ALIGN_BYTES) : p.sizeBytes));
  const spare = usableEnd - atMinimum.end;
  if (spare < 0) {
    throw new ShoalError(
      `disk ${targetPath} is too small: ${formatBytes(targetBytes)}, the image needs at least ${formatBytes(targetBytes - spare)} for its data`,
    );
  }
  // Pass 2: the room shared in proportion to captured sizes; what rounding leaves goes to the last.
  const origTotal = resizable.reduce((n, p) => n + p.sizeBytes, 0);
  // Never below the minimum: the share is rounded down, the minimum up.
  const minimum = (p: Partition): number => alignUp(p.minSizeBytes, PARTITION_ALIGN_BYTES);
  const sizes = new Map(
    resizable.map((p) => [
      p.number,
      Math.max(minimum(p), alignDown(p.minSizeBytes + (origTotal ? (spare * p.sizeBytes) / origTotal : 0), PARTITION_ALIGN_BYTES)),
    ]),
  );
  const lastResizable = [...resizable].sort((a, b) => a.startBytes - b.startBytes).pop();
  if (lastResizable) {
    const trial = place(disk, (p) => sizes.get(p.number) ?? p.sizeBytes);
    const slack = alignDown(usableEnd - trial.end, PARTITION_ALIGN_BYTES);
    if (slack > 0) sizes.set(lastResizable.number, sizes.get(lastResizable.number)! + slack);
  }
  const placed = place(disk, (p) => sizes.get(p.number) ?? p.sizeBytes).placed;
  const result = disk.partitions.map((p) => placed.get(p.number)!);
  for (const p of result) {
    if (p.startBytes + p.sizeBytes > usableEnd) throw new ShoalError(`disk ${targetPath} is too small: partition ${p.number} would end past its usable end`);
    // The last line of defence: a filesystem never gets a partition smaller than itself.
    if (!isExtendedPart(p) && p.sizeBytes < p.fsSizeBytes)
      throw new ShoalError(`disk ${targetPath}: partition ${p.number} would be smaller than its filesystem (${p.sizeBytes} < ${p.fsSizeBytes} bytes)`);
  }
  return result;
}

/** Lays partitions out in their captured order, keeping the gaps between them (alignment, EBRs). */
function place(disk: Disk, sizeOf: (p: Partition) => number): { placed: Map<number, PlacedPartition>; end: number } {
  const ordered = [...disk.partitions].sort((a, b) => a.startBytes - b.startBytes);
  const hasLogicals = ordered.some((p) => isLogical(disk, p));
  const placed = new Map<number, PlacedPartition>();
  let cursor = 0;
  let prevSourceEnd = 0;
  for (const p of ordered) {
    // An extended partition with logicals is sized around them below; an empty one is placed like any other.
    if (isExtendedPart(p) && hasLogicals) continue;
    // Leaving an extended partition: its unused tail is not carried over as a gap.
    if (!isLogical(disk, p)) {
      for (const ext of ordered.filter(isExtendedPart)) {
        if (hasLogicals && ext.startBytes < p.startBytes) prevSourceEnd = Math.max(prevSourceEnd, Math.min(p.startBytes, ext.startBytes + ext.sizeBytes));
      }
    }
    const gap = Math.max(0, p.startBytes - prevSourceEnd);
    const start = alignUp(cursor + gap, isLogical(disk, p) ? disk.logicalSectorBytes : PARTITION_ALIGN_BYTES);
    placed.set(p.number, { ...p, startBytes: start, sizeBytes: sizeOf(p), sourceStartBytes: p.startBytes });
    cursor = start + sizeOf(p);
    prevSourceEnd = p.startBytes + p.sizeBytes;
  }
  for (const ext of ordered.filter((p) => isExtendedPart(p) && hasLogicals)) {
    const logicals = [...placed.values()].filter((p) => isLogical(disk, p));
    const first = logicals.reduce<PlacedPartition | undefined>((a, p) => (!a || p.startBytes < a.startBytes ? p : a), undefined)!;
    // The space before the first logical (its EBR) is kept as captured.
    const start = first.startBytes - (first.sourceStartBytes - ext.startBytes);
    const end = logicals.reduce((e, p) => Math.max(e, p.startBytes + p.sizeBytes), start);
    placed.set(ext.number, { ...ext, startBytes: start, sizeBytes: end - start, sourceStartBytes: ext.startBytes });
    cursor = Math.max(cursor, end);
  }
  return { placed, end: cursor };
}

const isExtendedPart = (p: Partition): boolean => p.filesystem === 'extended';
const isLogical = (disk: Disk, p: Partition): boolean => disk.table.kind === 'dos' && p.number >= 5;
