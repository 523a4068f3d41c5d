/**
 * `shoal import`: a FOG or Clonezilla image folder into a Shoal image, in one streaming pass. Each
 * stored stream is decompressed by its own tool, parsed as it arrives (partclone-stream.ts) and
 * packed into pieces by the capture's workers; no disk or disk file is written in between. The
 * result is what a capture of the same disk makes: the table, boot code, the gap after the MBR,
 * every used block, swap's UUID; staged and published only when complete.
 */
import { randomUUID } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ShoalError } from '../../shared/errors.js';
import { assertImageName } from '../../shared/image/image-name.js';
import {
  MANIFEST_FILE,
  TORRENT_FILE,
  isPieceLength,
  PIECE_LENGTH_RULE,
  pieceFileName,
  writeManifest,
  type Area,
  type Disk,
  type ImageType,
  type Manifest,
  type Partition,
} from '../../shared/image/manifest.js';
import { createStaging } from '../../shared/image/store.js';
import { buildTorrent, imageChecksum } from '../../shared/image/torrent.js';
import { DEFAULT_PIECE_LENGTH_BYTES, PARTITION_ALIGN_BYTES } from '../../shared/units.js';
import { timed } from '../../shared/log.js';
import { silentProgress, type Progress } from '../console/progress.js';
import { inStore, packPool, runPieceJobs } from '../piece-workers/piece-jobs.js';
import type { PackInit, PackJob, PackReply } from '../piece-workers/pack-protocol.js';
import type { WorkerPool } from '../piece-workers/worker-pool.js';
import { RESIZABLE_FILESYSTEMS } from '../disk/filesystems.js';
import { isFixedType } from '../disk/partition-types.js';
import { readFogFolder } from './fog-folder.js';
import { readClonezillaFolder } from './clonezilla-folder.js';
import { planStreams, type ImportPlan, type PlannedDisk, type PlannedPartition } from './import-plan.js';
import { openStream, type OpenStream, type SourceStream } from './source-stream.js';
import { folderFiles, type FolderFiles } from './folder-files.js';
import { readPartcloneBitmap, readPartcloneBlocks, readPartcloneHeader } from './partclone-stream.js';
import { SegmentBuffers, segmentBytes, StreamPacker } from './stream-packer.js';
import { identifyFilesystem, ntfsBackupBootOffset } from './fs-identity.js';

export type ImportFormat = 'fog' | 'clonezilla';

export interface ImportRequest {
  format: ImportFormat;
  folder: string;
  store: string;
  image: string;
  /** FOG keeps the type in its database: by default it is told from the files. */
  type?: ImageType;
  /** Publish exactly this version (a portal's import task); refused if it exists. */
  version?: number;
  pieceLength?: number;
  zstdLevel?: number;
  progress?: (label: string, totalBytes: number) => Progress;
  /** Read only files that lie under this folder, whatever links lead to them (folder-files.ts). */
  within?: string;
}

/** The first bytes of a filesystem kept aside while it streams past: enough for its superblock. */
const HEAD_KEEP_BYTES = 64 * 1024;
/** How long a failed parse waits for the decompressor to say why (it usually knows better). */
const DECODER_VERDICT_WAIT_MS = 2_000;
/**
 * An import's default zstd level, below a capture's 6: an import is CPU-bound on the server (it
 * decompresses the foreign stream, then compresses and hashes every piece), and on FOG's default
 * image of 1 GiB of files level 3 took 7.4 s where 6 took 10.3, for an image 0.4 % larger
 * (bench:import, 2026-12-04; level 1 took 6.4 s but made it 11 % larger). --zstd-level chooses.
 */
export const IMPORT_ZSTD_LEVEL = 3;
const alignUp = (n: number, a: number): number => Math.ceil(n / a) * a;
/** A GPT's entry array as sgdisk and sfdisk write it. */
const GPT_ENTRIES = 128;
const GPT_ENTRY_BYTES = 128;

interface Context {
  pool: WorkerPool<PackJob, PackReply>;
  buffers: SegmentBuffers;
  dir: string;
  nextJobId: () => number;
  slots: number;
  read: (bytes: number) => void;
  files: FolderFiles;
}

export async function importImage(req: ImportRequest): Promise<{ dir: string; manifest: Manifest }> {
  assertImageName(req.image);
  const pieceLength = req.pieceLength ?? DEFAULT_PIECE_LENGTH_BYTES;
  if (!isPieceLength(pieceLength)) throw new ShoalError(`--piece-length ${pieceLength}: the piece length must be ${PIECE_LENGTH_RULE}`);
  const zstdLevel = req.zstdLevel ?? IMPORT_ZSTD_LEVEL;
  const files = folderFiles(req.within);
  const plan = req.format === 'fog' ? await readFogFolder(req.folder, req.type, files) : await readClonezillaFolder(req.folder, req.type, files);
  const staging = await createStaging(req.store, req.image, req.version);
  const imageId = randomUUID();
  const areaCount = plan.rawDisk ? 1 : plan.disks.reduce((n, d) => n + d.partitions.length + 1, 0);
  const init: PackInit = { pieceLength, zstdLevel, imageId, counters: new SharedArrayBuffer(4 * Math.max(1, areaCount)) };
  const pool = packPool(init);
  const total = planStreams(plan).reduce((n, s) => n + s.storedBytes, 0);
  const bar = (req.progress ?? silentProgress)('import', total);
  let done = 0;
  let jobId = 0;
  const ctx: Context = {
    pool,
    buffers: new SegmentBuffers(segmentBytes(pieceLength)),
    dir: staging.dir,
    nextJobId: () => jobId++,
    slots: 0,
    read: (bytes) => bar.update((done += bytes)),
    files,
  };
  try {
    const disks = plan.rawDisk ? [await timed('import raw disk', () => importRawDisk(ctx, plan.rawDisk!))] : [];
    for (const [index, disk] of plan.disks.entries()) disks.push(await timed('import disk', () => importDisk(ctx, plan, index, disk), { disk: index }));
    await pool.close();
    const areas = disks.flatMap((d) => d.areas);
    // Every piece read back before publishing, as a capture does: the store holds what was made.
    await timed('read back', () => runPieceJobs({ imageId, pieceLength }, staging.dir, inStore(areas), silentProgress, { sha1Only: true }));
    const sha1s = areas.flatMap((a) => a.pieces.map((p) => p.sha1));
    const files = areas.map((a) => ({ path: join(staging.dir, pieceFileName(a)), length: a.pieces.length * pieceLength }));
    const made = buildTorrent(files, `v${staging.version}`, pieceLength, sha1s);
    await writeFile(join(staging.dir, TORRENT_FILE), made.torrent);
    const manifest: Manifest = {
      format: 'shoal-image/1',
      imageId,
      name: req.image,
      version: staging.version,
      type: plan.type,
      createdAt: new Date().toISOString(),
      source: { host: `${plan.format} import`, disks: [req.folder] },
      pieceLength,
      zstdLevel,
      infoHash: made.infoHash,
      checksum: imageChecksum(made.pieceSha1s),
      rawBytes: areas.reduce((n, a) => n + a.pieces.reduce((m, p) => m + p.runs.reduce((k, r) => k + (r[2] === 0 ? r[1] : 0), 0), 0), 0),
      storedBytes: sha1s.length * pieceLength,
      disks,
    };
    await writeManifest(join(staging.dir, MANIFEST_FILE), manifest);
    const dir = await staging.publish();
    return { dir, manifest };
  } catch (err) {
    await staging.discard();
    throw err;
  } finally {
    bar.stop();
    await pool.close();
  }
}

async function importRawDisk(ctx: Context, stream: SourceStream): Promise<Disk> {
  const slot = ctx.slots++;
  const area: Area = { id: 'd0raw', kind: 'disk', sizeBytes: 0, pieces: [] };
  await withStream(ctx, stream, false, async (s) => {
    const h = await readPartcloneHeader(s.reader);
    const runs = await readPartcloneBitmap(s.reader, h);
    area.sizeBytes = h.deviceBytes;
    const packer = await StreamPacker.create(ctx.pool, ctx.buffers, { areaId: area.id, slot, pieceFile: join(ctx.dir, pieceFileName(area)) }, ctx.nextJobId);
    await readPartcloneBlocks(s.reader, h, runs, (offset, data) => packer.add(offset, data));
    area.pieces = await packer.finish();
  });
  if (area.sizeBytes <= 0) throw new ShoalError(`${stream.name}: the raw disk is empty`);
  return { index: 0, sizeBytes: area.sizeBytes, logicalSectorBytes: 512, table: { kind: 'none' }, partitions: [], areas: [area] };
}

async function importDisk(ctx: Context, plan: ImportPlan, index: number, disk: PlannedDisk): Promise<Disk> {
  const areas: Area[] = [];
  // sfdisk's first-lba is the first *usable* sector (2048 on the tables it makes); what FOG saved of
  // a GRUB disk runs from sector 0. Bytes between the entry array's end and first-lba are kept by
  // starting the table's usable space at the entry array's end, where a deploy puts the head area.
  let firstLba = disk.table.firstLba;
  if (disk.table.kind === 'gpt' && disk.start) {
    const entriesEnd = 2 + Math.ceil((GPT_ENTRIES * GPT_ENTRY_BYTES) / disk.sectorBytes);
    const gap = disk.start.subarray(entriesEnd * disk.sectorBytes, (firstLba ?? entriesEnd) * disk.sectorBytes);
    if (gap.some((b) => b !== 0)) firstLba = entriesEnd;
  }
  const tableEnd = disk.table.kind === 'gpt' ? (firstLba ?? 34) * disk.sectorBytes : disk.sectorBytes;
  const firstStart = Math.min(disk.sizeBytes, ...disk.partitions.map((p) => p.table.startBytes));
  // The gap between the table and the first partition (GRUB's core on MBR disks), as far as saved.
  if (disk.start && firstStart > tableEnd && disk.start.length > tableEnd) {
    const bytes = disk.start.subarray(tableEnd, Math.min(disk.start.length, firstStart));
    const area: Area = { id: `d${index}head`, kind: 'head', sizeBytes: firstStart - tableEnd, pieces: [] };
    const packer = await StreamPacker.create(
      ctx.pool,
      ctx.buffers,
      { areaId: area.id, slot: ctx.slots++, pieceFile: join(ctx.dir, pieceFileName(area)) },
      ctx.nextJobId,
    );
    await packer.add(0, bytes);
    area.pieces = await packer.finish();
    if (area.pieces.length) areas.push(area);
  }
  const partitions: Partition[] = [];
  for (const p of disk.partitions) {
    const { partition, area } = await importPartition(ctx, plan, index, p);
    partitions.push(partition);
    if (area?.pieces.length) areas.push(area);
  }
  return {
    index,
    sizeBytes: disk.sizeBytes,
    logicalSectorBytes: disk.sectorBytes as Disk['logicalSectorBytes'],
    table: {
      kind: disk.table.kind,
      ...(disk.table.id && { id: disk.table.id }),
      ...(firstLba !== undefined && { firstLba }),
      ...(disk.bootCode && { bootCode: disk.bootCode.toString('base64') }),
    },
    partitions,
    areas,
  };
}

async function importPartition(ctx: Context, plan: ImportPlan, diskIndex: number, p: PlannedPartition): Promise<{ partition: Partition; area?: Area }> {
  const tp = p.table;
  const base = { ...tp, fsSizeBytes: tp.sizeBytes, minSizeBytes: tp.sizeBytes, resizable: false };
  const src = p.source;
  if (src.kind === 'extended') return { partition: { ...base, filesystem: 'extended', fsSizeBytes: 0 } };
  if (src.kind === 'swap') {
    return { partition: { ...base, filesystem: 'swap', ...(src.uuid && { fsUuid: src.uuid }), ...(src.label && { fsLabel: src.label }) } };
  }
  const area: Area = { id: `d${diskIndex}p${tp.number}`, kind: 'partition', partitionNumber: tp.number, sizeBytes: tp.sizeBytes, pieces: [] };
  const packer = await StreamPacker.create(
    ctx.pool,
    ctx.buffers,
    { areaId: area.id, slot: ctx.slots++, pieceFile: join(ctx.dir, pieceFileName(area)) },
    ctx.nextJobId,
  );
  let head = Buffer.alloc(0);
  const keepHead = (offset: number, data: Buffer): void => {
    if (offset === head.length && head.length < HEAD_KEEP_BYTES) head = Buffer.concat([head, data.subarray(0, HEAD_KEEP_BYTES - head.length)]);
  };
  const past = (what: string, end: number): never => {
    throw new ShoalError(`${src.stream.name}: ${what} (${end} bytes) is larger than partition ${tp.number} (${tp.sizeBytes} bytes)`);
  };
  let partition: Partition;
  if (src.kind === 'dd') {
    let at = 0;
    await withStream(ctx, src.stream, true, async (s) => {
      for (;;) {
        const chunk = await s.reader.readSome();
        if (!chunk) break;
        if (at + chunk.length > tp.sizeBytes) past('the raw stream', at + chunk.length);
        keepHead(at, chunk);
        await packer.add(at, chunk);
        at += chunk.length;
      }
    });
    partition = { ...base, filesystem: identifyFilesystem('', head).filesystem };
  } else {
    let fsBytes = 0;
    let partcloneFs = '';
    await withStream(ctx, src.stream, false, async (s) => {
      const h = await readPartcloneHeader(s.reader);
      partcloneFs = h.fs;
      fsBytes = h.totalBlocks * h.blockSize;
      if (fsBytes > tp.sizeBytes) past(`its ${h.fs} filesystem`, fsBytes);
      const runs = await readPartcloneBitmap(s.reader, h);
      await readPartcloneBlocks(s.reader, h, runs, (offset, data) => {
        keepHead(offset, data);
        return packer.add(offset, data);
      });
    });
    const id = identifyFilesystem(partcloneFs, head);
    // partclone leaves out the NTFS boot sector's copy at the volume's end; Windows wants it.
    const backup = id.filesystem === 'ntfs' ? ntfsBackupBootOffset(head) : undefined;
    if (backup !== undefined && backup + 512 <= tp.sizeBytes) {
      await packer.add(backup, head.subarray(0, 512));
      fsBytes = Math.max(fsBytes, backup + 512);
    }
    const resizable = plan.type === 'resizable' && RESIZABLE_FILESYSTEMS.has(id.filesystem) && !isFixedType(tp.type) && !p.fixedSize;
    partition = {
      ...base,
      filesystem: id.filesystem,
      ...(id.label && { fsLabel: id.label }),
      ...(id.uuid && { fsUuid: id.uuid }),
      ...(resizable && { fsSizeBytes: fsBytes, minSizeBytes: Math.min(tp.sizeBytes, alignUp(fsBytes, PARTITION_ALIGN_BYTES)), resizable: true }),
    };
  }
  area.pieces = await packer.finish();
  return { partition, area };
}

/**
 * Runs `body` over an opened stream. When parsing fails, the decompressor's own complaint (a
 * corrupt or truncated file) is the error, if it has one; otherwise the parser's.
 */
async function withStream(ctx: Context, stream: SourceStream, raw: boolean, body: (s: OpenStream) => Promise<void>): Promise<void> {
  const s = await openStream(stream, ctx.read, raw, ctx.files);
  try {
    await body(s);
  } catch (err) {
    const verdict = await Promise.race([
      s.finished.then(
        () => undefined,
        (e: unknown) => e,
      ),
      new Promise<undefined>((resolve) => void setTimeout(resolve, DECODER_VERDICT_WAIT_MS)),
    ]);
    s.abort();
    throw verdict ?? err;
  }
  await s.finished;
}
