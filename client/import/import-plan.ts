/**
 * What a foreign image folder holds, read from its small files before any stream is opened: per
 * disk the table, the boot code, the bytes before the first partition, and per partition where its
 * data comes from. fog-folder.ts and clonezilla-folder.ts make one; import-image.ts carries it out.
 */
import type { ImageType } from '../../shared/image/manifest.js';
import type { TablePartition } from '../disk/partition-table.js';
import type { SourceStream } from './source-stream.js';

export type PartitionSource =
  /** A partclone image of the partition's used blocks. */
  | { kind: 'partclone'; stream: SourceStream }
  /** Every byte of the partition, as dd read it (Clonezilla's dd-img). */
  | { kind: 'dd'; stream: SourceStream }
  /** Recreated on deploy with its UUID and label, as a capture does. */
  | { kind: 'swap'; uuid?: string; label?: string }
  | { kind: 'extended' };

export interface PlannedPartition {
  table: TablePartition;
  source: PartitionSource;
  /** The image's own say on resizing: FOG's d1.fixed_size_partitions lists those that may not be. */
  fixedSize: boolean;
}

export interface PlannedDisk {
  sizeBytes: number;
  sectorBytes: number;
  table: { kind: 'gpt' | 'dos'; id?: string; firstLba?: number };
  /** Bytes 0..439 of the first sector, when there are any. */
  bootCode?: Buffer;
  /** The disk's first bytes as saved (MBR and what follows it up to the first partition). */
  start?: Buffer;
  partitions: PlannedPartition[];
}

export interface ImportPlan {
  format: 'fog' | 'clonezilla';
  folder: string;
  type: ImageType;
  /** One disk with a table, or (type raw) one whole disk from one stream. */
  disks: PlannedDisk[];
  rawDisk?: SourceStream;
}

/** Every stored stream of the plan, for the progress total. */
export function planStreams(plan: ImportPlan): SourceStream[] {
  const out: SourceStream[] = plan.rawDisk ? [plan.rawDisk] : [];
  for (const d of plan.disks) for (const p of d.partitions) if (p.source.kind === 'partclone' || p.source.kind === 'dd') out.push(p.source.stream);
  return out;
}
