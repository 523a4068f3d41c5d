import { z } from 'zod';
import { ShoalError } from '../../shared/errors.js';
import type { Partition } from '../../shared/image/manifest.js';
import { run } from './exec.js';
import { readBytes, writeBytes } from './device.js';

/** What sfdisk --json says of a disk; parsed with a schema, like every input we did not write. */
const SfdiskJson = z.object({
  partitiontable: z.object({
    label: z.enum(['gpt', 'dos']),
    id: z.string().optional(),
    firstlba: z.number().int().optional(),
    lastlba: z.number().int().optional(),
    sectorsize: z.number().int().optional(),
    partitions: z
      .array(
        z.object({
          node: z.string(),
          start: z.number().int(),
          size: z.number().int(),
          type: z.string(),
          uuid: z.string().optional(),
          name: z.string().optional(),
          attrs: z.string().optional(),
          bootable: z.boolean().optional(),
        }),
      )
      .default([]),
  }),
});

export interface TablePartition {
  number: number;
  startBytes: number;
  sizeBytes: number;
  type: string;
  uuid?: string;
  name?: string;
  attrs?: string;
  bootable?: boolean;
}

export interface DiskTable {
  kind: 'gpt' | 'dos' | 'none';
  id?: string;
  firstLba?: number;
  partitions: TablePartition[];
}

const BOOT_CODE_BYTES = 440;
const MBR_EXTENDED_TYPES = new Set(['5', 'f', '85']);

export const isExtended = (kind: DiskTable['kind'], type: string): boolean => kind === 'dos' && MBR_EXTENDED_TYPES.has(type.toLowerCase());

export async function readTable(path: string, sectorBytes: number): Promise<DiskTable> {
  const res = await run('sfdisk', ['--json', path], { okCodes: [1] });
  if (res.code !== 0) {
    if (/does not contain a recognized partition table/.test(res.stderr)) return { kind: 'none', partitions: [] };
    throw new ShoalError(`cannot read the partition table of ${path}: ${res.stderr.trim().split('\n').pop()}`);
  }
  const parsed = SfdiskJson.safeParse(JSON.parse(res.stdout));
  if (!parsed.success) throw new ShoalError(`${path}: unexpected partition table from sfdisk: ${parsed.error.issues[0]?.message}`);
  const t = parsed.data.partitiontable;
  if (t.sectorsize && t.sectorsize !== sectorBytes) throw new ShoalError(`${path}: sfdisk reports ${t.sectorsize}-byte sectors, the disk ${sectorBytes}`);
  const partitions = t.partitions.map((p) => {
    const m = /(\d+)$/.exec(p.node);
    if (!m) throw new ShoalError(`${path}: cannot tell the number of partition ${p.node}`);
    return {
      number: Number(m[1]),
      startBytes: p.start * sectorBytes,
      sizeBytes: p.size * sectorBytes,
      type: p.type,
      ...(p.uuid !== undefined && { uuid: p.uuid }),
      ...(p.name !== undefined && { name: p.name }),
      ...(p.attrs !== undefined && { attrs: p.attrs }),
      ...(p.bootable !== undefined && { bootable: p.bootable }),
    };
  });
  return { kind: t.label, ...(t.id !== undefined && { id: t.id }), ...(t.firstlba !== undefined && { firstLba: t.firstlba }), partitions };
}

/** The boot code of sector 0 (GRUB's or Windows' first stage), or undefined when it is blank. */
export async function readBootCode(path: string): Promise<string | undefined> {
  const code = await readBytes(path, 0, BOOT_CODE_BYTES);
  return code.every((b) => b === 0) ? undefined : code.toString('base64');
}

export async function writeBootCode(path: string, bootCode: string | undefined, diskBytes: number): Promise<void> {
  if (!bootCode) return;
  const code = Buffer.from(bootCode, 'base64');
  if (code.length !== BOOT_CODE_BYTES) throw new ShoalError(`boot code is ${code.length} bytes, not ${BOOT_CODE_BYTES}`);
  await writeBytes(path, 0, code, diskBytes);
}

const quote = (s: string): string => `"${s.replace(/["\\]/g, '')}"`;

/**
 * Writes a partition table with sfdisk: the given partitions, numbers, types, GUIDs, names and
 * attributes. sfdisk puts GPT's backup header and entries at the end of *this* disk. Signatures
 * are not wiped here: the deploy wiped the old table before writing the data this table describes.
 */
export async function writeTable(
  path: string,
  table: { kind: 'gpt' | 'dos'; id?: string | undefined; firstLba?: number | undefined },
  partitions: Array<Pick<Partition, 'number' | 'startBytes' | 'sizeBytes' | 'type' | 'uuid' | 'name' | 'attrs' | 'bootable'>>,
  sectorBytes: number,
): Promise<void> {
  const lines = [`label: ${table.kind}`, 'unit: sectors', `sector-size: ${sectorBytes}`];
  if (table.id) lines.push(`label-id: ${table.id}`);
  if (table.kind === 'gpt' && table.firstLba) lines.push(`first-lba: ${table.firstLba}`);
  lines.push('');
  for (const p of [...partitions].sort((a, b) => a.number - b.number)) {
    const fields = [`start=${p.startBytes / sectorBytes}`, `size=${p.sizeBytes / sectorBytes}`, `type=${p.type}`];
    if (p.uuid) fields.push(`uuid=${p.uuid}`);
    if (p.name) fields.push(`name=${quote(p.name)}`);
    if (p.attrs) fields.push(`attrs=${quote(p.attrs)}`);
    if (p.bootable) fields.push('bootable');
    // The bare number names the partition: sfdisk reads the trailing digits of a name, and
    // "/dev/nvme0n1" + "1" would read as partition 11.
    lines.push(`${p.number} : ${fields.join(', ')}`);
  }
  await run('sfdisk', ['--quiet', '--no-reread', '--no-tell-kernel', '--wipe', 'never', '--wipe-partitions', 'never', path], {
    input: lines.join('\n') + '\n',
  });
}
