import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { open, writeFile } from 'node:fs/promises';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { join } from 'node:path';
import { ShoalError } from '../../shared/errors.js';
import { assertImageName } from '../../shared/image/image-name.js';
import {
  MANIFEST_FILE,
  TORRENT_FILE,
  pieceFileName,
  writeManifest,
  type Area,
  type Disk,
  type ImageType,
  type Manifest,
  type Partition,
  type PieceEntry,
  isPieceLength,
  PIECE_LENGTH_RULE,
} from '../../shared/image/manifest.js';
import { createStaging } from '../../shared/image/store.js';
import { buildTorrent, imageChecksum } from '../../shared/image/torrent.js';
import { inStore, packPool, runPieceJobs } from '../piece-workers/piece-jobs.js';
import { DEFAULT_PIECE_LENGTH_BYTES, DEFAULT_ZSTD_LEVEL, MIB, PARTITION_ALIGN_BYTES } from '../../shared/units.js';
import { assertNotMounted, probeDisk, type DiskInfo } from '../disk/device.js';
import { isExtended, readBootCode, readTable } from '../disk/partition-table.js';
import { withLoop } from '../disk/loop.js';
import * as fsx from '../disk/filesystems.js';
import type { PackExtent, PackInit, PackJob, PackReply } from '../piece-workers/pack-protocol.js';
import { silentProgress, type Progress } from '../console/progress.js';
import { isFixedType } from '../disk/partition-types.js';
import { timed } from '../../shared/log.js';
import { withRawDisks } from '../vm/virtual-disk.js';

export interface CaptureRequest {
  disks: string[];
  store: string;
  image: string;
  type: ImageType;
  pieceLength?: number;
  zstdLevel?: number;
  progress?: (label: string, totalBytes: number) => Progress;
  /** Called between shrinking and packing; tests use it to make a capture fail half-way. */
  onShrunk?: () => void | Promise<void>;
  /** Capture over the network: pieces go to a storage node as they are made (store: a local scratch). */
  remote?: RemoteSink;
}

/** Where a network capture sends its pieces (client/capture/upload-sink.ts). */
export interface RemoteSink {
  /** A new upload, or the one cut off earlier, with the pieces that already arrived. */
  open(name: string, pieceLength: number): Promise<{ imageId: string; version: number; received: Record<string, Record<number, string>> }>;
  put(file: string, index: number, sha1: string, bytes: Buffer): Promise<void>;
  publish(manifest: Manifest, torrent: Buffer): Promise<string>;
  /** Pieces skipped because they had arrived before (resume). */
  skipped: number;
}

/** Pieces made but not yet sent, at most, in a network capture (in the local scratch meanwhile). */
const MAX_UNSENT_PIECES = 8;
/** The unsent count once a send failed: workers stop at it. */
const ABORTED = -1_000_000;

interface PlannedArea {
  area: Area;
  diskPath: string;
  diskOffset: number;
  extents: fsx.Extent[];
  pieces: PieceEntry[];
}

interface Shrunk {
  diskPath: string;
  partition: Partition;
}

const SINGLE_DISK_TYPES: ReadonlySet<ImageType> = new Set(['resizable', 'multipart', 'raw']);
const alignUp = (n: number, a: number): number => Math.ceil(n / a) * a;
const execFileAsync = promisify(execFile);

export async function capture(req: CaptureRequest): Promise<{ dir: string; manifest: Manifest }> {
  assertImageName(req.image);
  if (req.disks.length === 0) throw new ShoalError('capture needs at least one --disk');
  if (SINGLE_DISK_TYPES.has(req.type) && req.disks.length !== 1) {
    throw new ShoalError(`a ${req.type} image holds one disk; give one --disk or use --type alldisks`);
  }
  if (new Set(req.disks).size !== req.disks.length) throw new ShoalError('the same disk is given twice');
  const pieceLength = req.pieceLength ?? DEFAULT_PIECE_LENGTH_BYTES;
  if (!isPieceLength(pieceLength)) throw new ShoalError(`--piece-length ${pieceLength}: the piece length must be ${PIECE_LENGTH_RULE}`);
  const zstdLevel = req.zstdLevel ?? DEFAULT_ZSTD_LEVEL;
  // A VM disk is read through qemu as the raw disk its VM sees; a resizable capture shrinks it in a
  // discarded overlay, so the file itself is never written (client/vm/virtual-disk.ts).
  return withRawDisks(req.disks, { writable: req.type === 'resizable', scratchDir: req.store }, (paths) => captureFrom(req, paths, pieceLength, zstdLevel));
}

async function captureFrom(req: CaptureRequest, paths: string[], pieceLength: number, zstdLevel: number): Promise<{ dir: string; manifest: Manifest }> {
  const infos = await Promise.all(paths.map(probeDisk));
  for (const info of infos) await assertNotMounted(info);
  const session = req.remote ? await req.remote.open(req.image, pieceLength) : undefined;
  const staging = await createStaging(req.store, req.image, session?.version);
  const shrunk: Shrunk[] = [];
  // Ctrl-C or a kill during a resizable capture must not leave the source shrunk.
  const onSignal = (signal: NodeJS.Signals): void => {
    process.stderr.write(`shoal: ${signal}: growing back shrunk filesystems and discarding the capture\n`);
    void growBack(shrunk).then(async (failures) => {
      for (const f of failures) process.stderr.write(`shoal: error: ${f}\n`);
      await staging.discard();
      process.exit(130);
    });
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    const disks: Disk[] = [];
    const planned: PlannedArea[] = [];
    for (const [index, info] of infos.entries()) {
      const { disk, areas } = await timed('plan disk', () => planDisk(index, info, req.type, shrunk), { disk: info.path });
      disk.areas = areas.map((a) => a.area); // the same objects: their pieces are filled in by packAreas
      disks.push(disk);
      planned.push(...areas);
    }
    await req.onShrunk?.();
    // A resumed network capture keeps its image id: the same disk then makes the same pieces.
    const imageId = session?.imageId ?? randomUUID();
    const send = req.remote && session ? sender(req.remote, session.received, staging.dir, pieceLength) : undefined;
    await timed('pack', () => packAreas(planned, staging.dir, imageId, pieceLength, zstdLevel, req.progress ?? silentProgress, send));
    await timed('grow back', () => growBackOrThrow(shrunk));
    // Read every piece back from the store before publishing: it must be what the workers wrote.
    // (A network capture's pieces are checked by the node, on arrival and again before it publishes.)
    if (!send)
      await timed('read back', () =>
        runPieceJobs({ imageId, pieceLength }, staging.dir, inStore(planned.map((p) => p.area)), silentProgress, { sha1Only: true }),
      );
    const ours = planned.flatMap((p) => p.pieces.map((e) => e.sha1));
    const files = planned.map((p) => ({ path: join(staging.dir, pieceFileName(p.area)), length: p.pieces.length * pieceLength }));
    const made = buildTorrent(files, `v${staging.version}`, pieceLength, ours);
    await writeFile(join(staging.dir, TORRENT_FILE), made.torrent);
    const storedBytes = ours.length * pieceLength;
    const rawBytes = planned.reduce((n, p) => n + p.extents.reduce((m, e) => m + e[1], 0), 0);
    const manifest: Manifest = {
      format: 'shoal-image/1',
      imageId,
      name: req.image,
      version: staging.version,
      type: req.type,
      createdAt: new Date().toISOString(),
      source: { host: hostname(), disks: req.disks },
      pieceLength,
      zstdLevel,
      infoHash: made.infoHash,
      checksum: imageChecksum(made.pieceSha1s),
      rawBytes,
      storedBytes,
      disks,
    };
    if (req.remote) {
      const dir = await timed('publish on the node', () => req.remote!.publish(manifest, made.torrent));
      await staging.discard();
      return { dir, manifest };
    }
    await writeManifest(join(staging.dir, MANIFEST_FILE), manifest);
    const dir = await staging.publish();
    return { dir, manifest };
  } catch (err) {
    const failures = await growBack(shrunk);
    await staging.discard();
    if (failures.length) throw new ShoalError(`${(err as Error).message}; and ${failures.join('; ')}`);
    throw err;
  } finally {
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
  }
}

/** Grows every shrunk source filesystem back to fill its partition; says which could not be. */
async function growBack(shrunk: Shrunk[]): Promise<string[]> {
  const failures: string[] = [];
  while (shrunk.length) {
    const { diskPath, partition: p } = shrunk.pop()!;
    try {
      await withLoop(diskPath, p.startBytes, p.sizeBytes, (dev) => fsx.resizeFilesystem(p.filesystem, dev));
    } catch (err) {
      failures.push(
        `partition ${p.number} of ${diskPath} is still shrunk (grow it by hand: ${p.filesystem === 'ntfs' ? 'ntfsresize' : 'resize2fs'}): ${(err as Error).message}`,
      );
    }
  }
  return failures;
}

const growBackOrThrow = async (shrunk: Shrunk[]): Promise<void> => {
  const failures = await growBack(shrunk);
  if (failures.length) throw new ShoalError(failures.join('; '));
};

async function planDisk(index: number, info: DiskInfo, type: ImageType, shrunk: Shrunk[]): Promise<{ disk: Disk; areas: PlannedArea[] }> {
  const base = { index, sizeBytes: info.sizeBytes, logicalSectorBytes: info.logicalSectorBytes as Disk['logicalSectorBytes'] };
  const areaOf = (id: string, kind: Area['kind'], sizeBytes: number, diskOffset: number, extents: fsx.Extent[], partitionNumber?: number): PlannedArea => ({
    area: { id, kind, sizeBytes, pieces: [], ...(partitionNumber !== undefined && { partitionNumber }) },
    diskPath: info.path,
    diskOffset,
    extents,
    pieces: [],
  });
  if (type === 'raw') {
    return {
      disk: { ...base, table: { kind: 'none' }, partitions: [], areas: [] },
      areas: [areaOf(`d${index}raw`, 'disk', info.sizeBytes, 0, [[0, info.sizeBytes]])],
    };
  }
  const table = await readTable(info.path, info.logicalSectorBytes);
  if (table.kind === 'none') throw new ShoalError(`disk ${info.path} has no partition table; capture it with --type raw`);
  const bootCode = await readBootCode(info.path);
  const areas: PlannedArea[] = [];
  // Between the table and the first partition: GRUB's core image on MBR disks, nothing on most GPT ones.
  const tableEnd = table.kind === 'gpt' ? (table.firstLba ?? 34) * info.logicalSectorBytes : info.logicalSectorBytes;
  const firstStart = Math.min(...table.partitions.map((p) => p.startBytes), info.sizeBytes);
  if (firstStart > tableEnd) areas.push(areaOf(`d${index}head`, 'head', firstStart - tableEnd, tableEnd, [[0, firstStart - tableEnd]]));
  const partitions: Partition[] = [];
  for (const tp of table.partitions) {
    if (isExtended(table.kind, tp.type)) {
      partitions.push({ ...tp, filesystem: 'extended', fsSizeBytes: 0, minSizeBytes: tp.sizeBytes, resizable: false });
      continue;
    }
    const writable = type === 'resizable';
    const part = await withLoop(
      info.path,
      tp.startBytes,
      tp.sizeBytes,
      async (dev): Promise<{ p: Partition; extents: fsx.Extent[] }> => {
        const fs = await fsx.detectFilesystem(dev);
        const p: Partition = {
          ...tp,
          filesystem: fs.filesystem,
          ...(fs.label !== undefined && { fsLabel: fs.label }),
          ...(fs.uuid !== undefined && { fsUuid: fs.uuid }),
          fsSizeBytes: tp.sizeBytes,
          minSizeBytes: tp.sizeBytes,
          resizable: false,
        };
        if (fs.filesystem === 'swap') return { p, extents: [] }; // recreated on deploy, not copied
        const what = `disk ${info.path} partition ${tp.number}`;
        if (type === 'resizable' && fsx.RESIZABLE_FILESYSTEMS.has(fs.filesystem) && !isFixedType(tp.type)) {
          await fsx.checkFilesystem(fs.filesystem, dev, what);
          const current = await fsx.filesystemBytes(fs.filesystem, dev);
          const target = fsx.shrinkTarget(await fsx.minimumBytes(fs.filesystem, dev), current);
          if (target < current) {
            // Recorded first: a shrink that fails half-way must still be grown back.
            shrunk.push({ diskPath: info.path, partition: p });
            await fsx.resizeFilesystem(fs.filesystem, dev, target);
          }
          p.fsSizeBytes = await fsx.filesystemBytes(fs.filesystem, dev);
          p.minSizeBytes = Math.min(tp.sizeBytes, alignUp(p.fsSizeBytes, PARTITION_ALIGN_BYTES));
          p.resizable = true;
        }
        return { p, extents: await fsx.usedExtents(fs.filesystem, dev, p.fsSizeBytes) };
      },
      { readOnly: !writable },
    );
    partitions.push(part.p);
    if (part.extents.length) areas.push(areaOf(`d${index}p${tp.number}`, 'partition', tp.sizeBytes, tp.startBytes, part.extents, tp.number));
  }
  return {
    disk: {
      ...base,
      table: {
        kind: table.kind,
        ...(table.id && { id: table.id }),
        ...(table.firstLba !== undefined && { firstLba: table.firstLba }),
        ...(bootCode && { bootCode }),
      },
      partitions,
      areas: [],
    },
    areas,
  };
}

/** Raw bytes given to one job: big enough that re-packing a job's unfilled last piece costs little. */
const SEGMENT_MAX_BYTES = 512 * MIB;
const SEGMENT_MIN_BYTES = 32 * MIB;

function splitExtents(extents: fsx.Extent[], segmentBytes: number): fsx.Extent[][] {
  const segments: fsx.Extent[][] = [];
  let current: fsx.Extent[] = [];
  let size = 0;
  for (const [off, len] of extents) {
    let done = 0;
    while (done < len) {
      const take = Math.min(len - done, segmentBytes - size);
      current.push([off + done, take]);
      size += take;
      done += take;
      if (size >= segmentBytes) {
        segments.push(current);
        current = [];
        size = 0;
      }
    }
  }
  if (current.length) segments.push(current);
  return segments;
}

/** Sends one piece (network capture); the pack loop waits for all of them. */
type PieceSender = (unsent: Int32Array, file: string, index: number, sha1: string) => Promise<void>;

/**
 * Sends each piece as soon as a worker has written it to the local scratch, unless it arrived in
 * an earlier, cut-off run; then punches it out of the scratch and lets the workers go on.
 */
function sender(remote: RemoteSink, received: Record<string, Record<number, string>>, dir: string, pieceLength: number): PieceSender {
  return async (unsent, file, index, sha1) => {
    const path = join(dir, file);
    try {
      if (received[file]?.[index] === sha1) remote.skipped++;
      else {
        const fh = await open(path, 'r');
        try {
          const buf = Buffer.alloc(pieceLength);
          await fh.read(buf, 0, pieceLength, index * pieceLength);
          await remote.put(file, index, sha1, buf);
        } finally {
          await fh.close();
        }
      }
      await execFileAsync('fallocate', ['--punch-hole', '--offset', String(index * pieceLength), '--length', String(pieceLength), path]);
      Atomics.sub(unsent, 0, 1);
    } catch (err) {
      // Stop the workers now rather than pack the rest of the disk into a scratch nobody empties.
      Atomics.store(unsent, 0, ABORTED);
      throw err;
    } finally {
      Atomics.notify(unsent, 0);
    }
  };
}

async function packAreas(
  planned: PlannedArea[],
  dir: string,
  imageId: string,
  pieceLength: number,
  zstdLevel: number,
  progress: (label: string, total: number) => Progress,
  send?: PieceSender,
): Promise<void> {
  const total = planned.reduce((n, p) => n + p.extents.reduce((m, e) => m + e[1], 0), 0);
  const counters = new SharedArrayBuffer(4 * Math.max(1, planned.length));
  const unsentBuffer = new SharedArrayBuffer(4);
  const unsent = new Int32Array(unsentBuffer);
  const init: PackInit = { pieceLength, zstdLevel, imageId, counters, ...(send && { unsent: unsentBuffer, maxUnsent: MAX_UNSENT_PIECES }) };
  const sending: Array<Promise<void>> = [];
  const pool = packPool(init);
  const bar = progress('capture', total);
  const segmentBytes = Math.max(SEGMENT_MIN_BYTES, Math.min(SEGMENT_MAX_BYTES, Math.ceil(total / (pool.size * 2))));
  let done = 0;
  let jobId = 0;
  try {
    await Promise.all(
      planned.map(async (p, slot) => {
        const file = join(dir, pieceFileName(p.area));
        await (await open(file, 'w')).close();
        const onReply = (r: PackReply): void => {
          if (r.type !== 'piece') return;
          p.pieces[r.index] = { sha1: r.sha1, rawSha256: r.rawSha256, runs: r.runs };
          if (send) {
            const sent = send(unsent, pieceFileName(p.area), r.index, r.sha1);
            sent.catch(() => {}); // awaited below with the others; not an unhandled rejection meanwhile
            sending.push(sent);
          }
          done += r.coveredBytes;
          bar.update(done);
        };
        const job = (extents: PackExtent[], final: boolean): PackJob => ({
          jobId: jobId++,
          diskPath: p.diskPath,
          diskOffset: p.diskOffset,
          areaId: p.area.id,
          areaSlot: slot,
          pieceFile: file,
          extents,
          final,
        });
        // A network capture packs each area in one job: the same disk then gives the same pieces in
        // the same order, which is what lets a cut-off capture resume without sending them again.
        const segments = send ? [p.extents] : splitExtents(p.extents, segmentBytes);
        const leftovers: PackExtent[] = [];
        if (segments.length > 1) {
          await Promise.all(segments.map((s) => pool.run(job(s, false), (r) => (r.type === 'done' ? leftovers.push(...r.leftover) : onReply(r)))));
          // The unfilled last pieces of every segment are packed together, closing the area; their
          // zero runs stay zero runs, so they are not read again.
          await pool.run(
            job(
              leftovers.sort((a, b) => a[0] - b[0]),
              true,
            ),
            onReply,
          );
        } else await pool.run(job(segments[0] ?? [], true), onReply);
        const count = Atomics.load(new Int32Array(counters), slot);
        if (p.pieces.length !== count || p.pieces.some((e) => !e)) throw new Error(`area ${p.area.id}: ${count} pieces counted, ${p.pieces.length} reported`);
        p.area.pieces = p.pieces;
      }),
    );
    await Promise.all(sending);
  } catch (err) {
    // Workers stopped by a failed send say only that; the send's own error says why.
    const failedSend = (await Promise.allSettled(sending)).find((r): r is PromiseRejectedResult => r.status === 'rejected');
    throw failedSend ? failedSend.reason : err;
  } finally {
    // A failed send must not leave a worker blocked on the unsent count.
    Atomics.store(unsent, 0, ABORTED);
    Atomics.notify(unsent, 0);
    await Promise.allSettled(sending);
    bar.stop();
    await pool.close();
  }
}
