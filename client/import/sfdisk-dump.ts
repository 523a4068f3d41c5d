/**
 * The partition table as `sfdisk -d` dumps it (FOG's d1.partitions, Clonezilla's sda-pt.sf), read
 * into the same shape `sfdisk --json` gives of a disk (client/disk/partition-table.ts).
 */
import { ShoalError } from '../../shared/errors.js';
import type { DiskTable, TablePartition } from '../disk/partition-table.js';

export interface DumpedTable extends DiskTable {
  kind: 'gpt' | 'dos';
  sectorBytes: number;
  /** GPT's last usable sector, when the dump says. */
  lastLba?: number;
}

/** key=value fields; values may be quoted and hold commas. */
function fields(text: string): Map<string, string> {
  const out = new Map<string, string>();
  const re = /\s*([a-z-]+)\s*(?:=\s*("(?:[^"\\]|\\.)*"|[^,]*))?\s*(?:,|$)/gy;
  let m: RegExpExecArray | null;
  while (re.lastIndex < text.length && (m = re.exec(text)) !== null) {
    if (m[0] === '') break;
    const v = m[2]?.trim() ?? '';
    out.set(m[1]!, v.startsWith('"') ? v.slice(1, -1).replace(/\\(.)/g, '$1') : v);
  }
  return out;
}

export function parseSfdiskDump(text: string, file: string): DumpedTable {
  const header = new Map<string, string>();
  const partitions: TablePartition[] = [];
  const lines = text.split('\n');
  for (const [i, raw] of lines.entries()) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const at = `${file}, line ${i + 1}`;
    const sep = line.indexOf(' : ');
    if (sep >= 0) {
      const node = line.slice(0, sep).trim();
      const num = /(\d+)$/.exec(node);
      if (!num) throw new ShoalError(`${at}: cannot tell the number of partition "${node}"`);
      const f = fields(line.slice(sep + 3));
      const start = Number(f.get('start'));
      const size = Number(f.get('size'));
      if (!Number.isSafeInteger(start) || !Number.isSafeInteger(size) || start < 0 || size < 0)
        throw new ShoalError(`${at}: start and size must be sector counts`);
      if (size === 0) continue; // an unused slot (MBR dumps list them)
      const type = f.get('type') ?? f.get('Id');
      if (!type) throw new ShoalError(`${at}: partition ${num[1]} has no type`);
      partitions.push({
        number: Number(num[1]),
        startBytes: start, // in sectors until the sector size is known, below
        sizeBytes: size,
        type: type.toLowerCase().length <= 2 ? type.toLowerCase() : type.toUpperCase(),
        ...(f.has('uuid') && { uuid: f.get('uuid')!.toUpperCase() }),
        ...(f.has('name') && { name: f.get('name')! }),
        ...(f.has('attrs') && { attrs: f.get('attrs')! }),
        ...(f.has('bootable') && { bootable: true }),
      });
      continue;
    }
    const kv = /^([a-z-]+)\s*:\s*(.*)$/.exec(line);
    if (!kv) throw new ShoalError(`${at}: not an sfdisk dump line: "${line.slice(0, 60)}"`);
    header.set(kv[1]!, kv[2]!.trim());
  }
  const label = header.get('label');
  if (label !== 'gpt' && label !== 'dos') throw new ShoalError(`${file}: not an sfdisk dump of a GPT or MBR table (label: ${label ?? 'none'})`);
  const unit = header.get('unit') ?? 'sectors';
  if (unit !== 'sectors') throw new ShoalError(`${file}: unit "${unit}"; sfdisk dumps count sectors`);
  const sectorBytes = Number(header.get('sector-size') ?? 512);
  if (![512, 1024, 2048, 4096].includes(sectorBytes)) throw new ShoalError(`${file}: sector size ${sectorBytes}`);
  const numbers = new Set<number>();
  for (const p of partitions) {
    if (numbers.has(p.number)) throw new ShoalError(`${file}: partition ${p.number} is listed twice`);
    numbers.add(p.number);
    p.startBytes *= sectorBytes;
    p.sizeBytes *= sectorBytes;
  }
  const firstLba = header.has('first-lba') ? Number(header.get('first-lba')) : undefined;
  const lastLba = header.has('last-lba') ? Number(header.get('last-lba')) : undefined;
  const id = header.get('label-id');
  return {
    kind: label,
    sectorBytes,
    ...(id && { id: label === 'gpt' ? id.toUpperCase() : id.toLowerCase() }),
    ...(firstLba !== undefined && label === 'gpt' && { firstLba }),
    ...(lastLba !== undefined && label === 'gpt' && { lastLba }),
    partitions: partitions.sort((a, b) => a.number - b.number),
  };
}

/**
 * The smallest disk that holds the table: GPT's backup entries and header after its last usable
 * sector; for MBR, the end of its last partition.
 */
export function diskBytesOf(t: DumpedTable): number {
  const end = Math.max(0, ...t.partitions.map((p) => p.startBytes + p.sizeBytes));
  if (t.kind === 'gpt') return Math.max(end + 33 * t.sectorBytes, ((t.lastLba ?? 0) + 34) * t.sectorBytes);
  return end;
}
