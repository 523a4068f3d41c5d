import { readFile, writeFile, rename } from 'node:fs/promises';
import { z } from 'zod';
import { ShoalError } from '../errors.js';

export const IMAGE_TYPES = ['resizable', 'multipart', 'alldisks', 'raw'] as const;
export type ImageType = (typeof IMAGE_TYPES)[number];

const nonNegInt = z.number().int().nonnegative();
const hex = (len: number) => z.string().regex(new RegExp(`^[0-9a-f]{${len}}$`));

/** RUN_DATA: bytes carried in the piece. RUN_ZERO: bytes written as zeros, carried by no piece. */
export const RUN_DATA = 0;
export const RUN_ZERO = 1;
/** What an image's piece length may be: capture checks it before reading a byte, a storage node before taking an upload. */
export const MIN_PIECE_LENGTH_BYTES = 64 * 1024;
export const MAX_PIECE_LENGTH_BYTES = 64 * 1024 * 1024;
export const PIECE_LENGTH_RULE = 'a power of two from 64 KiB to 64 MiB';
export const isPieceLength = (n: number): boolean =>
  Number.isInteger(n) && Number.isInteger(Math.log2(n)) && n >= MIN_PIECE_LENGTH_BYTES && n <= MAX_PIECE_LENGTH_BYTES;

/** [offset from the area's start, length, kind] — a tuple because an image holds many thousands. */
export const RunSchema = z.tuple([nonNegInt, z.number().int().positive(), z.union([z.literal(RUN_DATA), z.literal(RUN_ZERO)])]);
export type Run = z.infer<typeof RunSchema>;

export const PieceEntrySchema = z.object({
  /** SHA-1 of the whole padded piece, as in the torrent. */
  sha1: hex(40),
  /** SHA-256 of the decompressed data runs, in order: what resume and verify compare a disk against. */
  rawSha256: hex(64),
  runs: z.array(RunSchema).min(1),
});
export type PieceEntry = z.infer<typeof PieceEntrySchema>;

export const AreaSchema = z.object({
  /** Also the name of the area's piece file in the image directory: "<id>.pieces". */
  id: z.string().regex(/^d[0-9]+(p[0-9]+|head|raw)$/),
  kind: z.enum(['head', 'partition', 'disk']),
  partitionNumber: z.number().int().positive().optional(),
  /** Runs may not reach past this many bytes from the area's start. */
  sizeBytes: nonNegInt,
  pieces: z.array(PieceEntrySchema),
});
export type Area = z.infer<typeof AreaSchema>;

export const FILESYSTEMS = [
  'ext2',
  'ext3',
  'ext4',
  'ntfs',
  'vfat',
  'exfat',
  'xfs',
  'btrfs',
  'f2fs',
  'hfsplus',
  'minix',
  'apfs',
  'swap',
  'raw',
  'extended',
] as const;
export type Filesystem = (typeof FILESYSTEMS)[number];

export const PartitionSchema = z.object({
  number: z.number().int().positive(),
  startBytes: nonNegInt,
  sizeBytes: z.number().int().positive(),
  /** GPT type GUID or MBR type byte (hex), as sfdisk names it. */
  type: z.string().min(1),
  uuid: z.string().optional(),
  name: z.string().optional(),
  attrs: z.string().optional(),
  bootable: z.boolean().optional(),
  filesystem: z.enum(FILESYSTEMS),
  fsLabel: z.string().optional(),
  fsUuid: z.string().optional(),
  /** The filesystem's size as captured; below sizeBytes when a resizable capture shrank it. */
  fsSizeBytes: nonNegInt,
  /** The smallest partition that holds what was captured. */
  minSizeBytes: nonNegInt,
  /** A resizable deploy may give this partition any size from minSizeBytes up. */
  resizable: z.boolean(),
});
export type Partition = z.infer<typeof PartitionSchema>;

export const TableSchema = z.object({
  kind: z.enum(['gpt', 'dos', 'none']),
  /** Disk GUID (gpt) or disk signature (dos). */
  id: z.string().optional(),
  firstLba: nonNegInt.optional(),
  /** Bytes 0..439 of the first sector: boot code, kept even on GPT's protective MBR. */
  bootCode: z.string().optional(),
});

export const DiskSchema = z.object({
  index: nonNegInt,
  sizeBytes: z.number().int().positive(),
  logicalSectorBytes: z.union([z.literal(512), z.literal(1024), z.literal(2048), z.literal(4096)]),
  table: TableSchema,
  partitions: z.array(PartitionSchema),
  areas: z.array(AreaSchema),
});
export type Disk = z.infer<typeof DiskSchema>;

export const ManifestSchema = z.object({
  format: z.literal('shoal-image/1'),
  imageId: z.string().uuid(),
  name: z.string().min(1),
  version: z.number().int().positive(),
  type: z.enum(IMAGE_TYPES),
  createdAt: z.string().datetime(),
  source: z.object({ host: z.string(), disks: z.array(z.string()) }),
  pieceLength: z.number().int().positive().refine(isPieceLength, PIECE_LENGTH_RULE),
  zstdLevel: z.number().int(),
  infoHash: hex(40),
  /** sha256 over every piece's SHA-1 in torrent order (see docs/architecture.md, "The image"). */
  checksum: hex(64),
  rawBytes: nonNegInt,
  storedBytes: nonNegInt,
  disks: z.array(DiskSchema).min(1),
});
export type Manifest = z.infer<typeof ManifestSchema>;

export const MANIFEST_FILE = 'manifest.json';
export const TORRENT_FILE = 'image.torrent';
export const pieceFileName = (area: Pick<Area, 'id'>): string => `${area.id}.pieces`;

export function parseManifest(json: unknown, where: string): Manifest {
  const result = ManifestSchema.safeParse(json);
  if (!result.success) {
    const issue = result.error.issues[0]!;
    throw new ShoalError(`${where}: manifest fails its schema at ${issue.path.join('.') || '(root)'}: ${issue.message}`);
  }
  const manifest = result.data;
  checkManifestConsistency(manifest, where);
  return manifest;
}

/** What the schema alone cannot say: runs stay inside their area, areas inside their disk. */
function checkManifestConsistency(m: Manifest, where: string): void {
  for (const disk of m.disks) {
    for (const p of disk.partitions) {
      if (p.startBytes + p.sizeBytes > disk.sizeBytes) {
        throw new ShoalError(`${where}: partition ${p.number} of disk ${disk.index} ends past the disk's end`);
      }
    }
    for (const area of disk.areas) {
      if (area.kind === 'partition' && !disk.partitions.some((p) => p.number === area.partitionNumber)) {
        throw new ShoalError(`${where}: area ${area.id} names partition ${area.partitionNumber}, which the table lacks`);
      }
      area.pieces.forEach((piece, index) => {
        for (const [offset, length] of piece.runs) {
          if (offset + length > area.sizeBytes) {
            throw new ShoalError(`${where}: piece ${index} of ${area.id} has a run at ${offset}+${length} past the area's ${area.sizeBytes} bytes`);
          }
        }
      });
    }
  }
}

export async function readManifest(path: string): Promise<Manifest> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new ShoalError(`cannot read manifest ${path}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new ShoalError(`${path}: manifest is not valid JSON: ${(err as Error).message}`);
  }
  return parseManifest(json, path);
}

export async function writeManifest(path: string, manifest: Manifest): Promise<void> {
  parseManifest(manifest, path); // never write what we would refuse to read
  await writeFile(`${path}.tmp`, JSON.stringify(manifest, null, 1) + '\n');
  await rename(`${path}.tmp`, path);
}

/** Torrent pieces in torrent order: areas of all disks in manifest order, each area's pieces in index order. */
export function* torrentPieces(m: Manifest): Generator<{ disk: Disk; area: Area; index: number; piece: PieceEntry }> {
  for (const disk of m.disks) for (const area of disk.areas) for (const [index, piece] of area.pieces.entries()) yield { disk, area, index, piece };
}
