import type { Manifest } from '../../shared/image/manifest.js';
import { formatBytes } from '../console/progress.js';

/** The manifest as a person wants to read it: what the image is, what each disk holds, how big. */
export function describeImage(m: Manifest): string {
  const pieces = m.disks.reduce((n, d) => n + d.areas.reduce((a, x) => a + x.pieces.length, 0), 0);
  const lines = [
    `${m.name} v${m.version}  (${m.type})`,
    `  captured   ${m.createdAt} on ${m.source.host} from ${m.source.disks.join(', ')}`,
    `  data       ${formatBytes(m.rawBytes)} used, stored as ${formatBytes(m.storedBytes)} (${pieces} pieces of ${formatBytes(m.pieceLength)}, zstd -${m.zstdLevel})`,
    `  infohash   ${m.infoHash}`,
    `  checksum   ${m.checksum}`,
    `  image id   ${m.imageId}`,
  ];
  for (const d of m.disks) {
    const table = d.table.kind === 'none' ? 'no partition table (raw)' : `${d.table.kind.toUpperCase()}${d.table.id ? ` ${d.table.id}` : ''}`;
    lines.push(
      '',
      `disk ${d.index}: ${formatBytes(d.sizeBytes)} (${d.sizeBytes} bytes), ${d.logicalSectorBytes}-byte sectors, ${table}${d.table.bootCode ? ', boot code' : ''}`,
    );
    if (d.partitions.length) {
      lines.push(
        `  ${'#'.padEnd(3)} ${'start'.padStart(12)} ${'size'.padStart(10)} ${'min size'.padStart(10)} ${'fs'.padEnd(8)} ${'label'.padEnd(14)} resize  type / name`,
      );
      for (const p of d.partitions) {
        lines.push(
          `  ${String(p.number).padEnd(3)} ${String(p.startBytes).padStart(12)} ${formatBytes(p.sizeBytes).padStart(10)} ${formatBytes(p.minSizeBytes).padStart(10)} ${p.filesystem.padEnd(8)} ${(p.fsLabel ?? '').slice(0, 14).padEnd(14)} ${(p.resizable ? 'yes' : 'no').padEnd(7)} ${p.type}${p.name ? ` "${p.name}"` : ''}`,
        );
      }
    }
    for (const a of d.areas) {
      const used = a.pieces.reduce((n, p) => n + p.runs.reduce((s, r) => s + (r[2] === 0 ? r[1] : 0), 0), 0);
      lines.push(`  area ${a.id.padEnd(8)} ${String(a.pieces.length).padStart(6)} pieces, ${formatBytes(used)} of data`);
    }
  }
  return lines.join('\n');
}
