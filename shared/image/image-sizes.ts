/**
 * What the catalog shows of an image version without reading its pieces: its stored size and the
 * smallest disk it deploys to. The client's layout is the real check at deploy time; this is the
 * figure an admin picks PCs by (a resizable image shrinks its resizable partitions to their
 * minimum, keeping gaps and order, as the client's layout does).
 */
import type { Manifest } from './manifest.js';
import { PARTITION_ALIGN_BYTES } from '../units.js';

const alignUp = (n: number, a: number): number => Math.ceil(n / a) * a;

export function imageSizes(manifestJson: string): { sizeBytes: number; minDiskBytes: number; imageType: Manifest['type'] } {
  const m = JSON.parse(manifestJson) as Manifest;
  const disk = m.disks[0]!;
  let minDiskBytes = disk.sizeBytes;
  if (m.type === 'resizable' && disk.partitions.length) {
    const shrunk = disk.partitions
      .filter((p) => p.resizable)
      .reduce((n, p) => n + Math.max(0, p.sizeBytes - alignUp(p.minSizeBytes, PARTITION_ALIGN_BYTES)), 0);
    const end = Math.max(...disk.partitions.map((p) => p.startBytes + p.sizeBytes));
    const gptTail = disk.table.kind === 'gpt' ? 33 * disk.logicalSectorBytes : 0;
    minDiskBytes = end - shrunk + gptTail;
  }
  return { sizeBytes: m.storedBytes, minDiskBytes, imageType: m.type };
}
