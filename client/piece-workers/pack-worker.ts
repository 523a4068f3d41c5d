/**
 * Capture worker: reads extents of a source disk, packs them into pieces and writes each piece
 * straight to its slot in the area's piece file. Piece numbers come from a counter shared by all
 * workers, so no piece passes through the main thread.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { openSync, readSync, writeSync, closeSync, fdatasyncSync } from 'node:fs';
import { RUN_ZERO } from '../../shared/image/manifest.js';
import { PiecePacker } from '../../shared/image/piece-codec.js';
import type { PackExtent, PackJob, PackInit, PackReply } from './pack-protocol.js';
import { serveJobs } from './job-loop.js';
import { MIB } from '../../shared/units.js';

const READ_CHUNK_BYTES = 1 * MIB;
const init = workerData as PackInit;
const counters = new Int32Array(init.counters);
const unsent = init.unsent ? new Int32Array(init.unsent) : undefined;
const UNSENT_WAIT_MS = 1_000;

/** Blocks this worker while too many pieces wait to be sent (network capture); a send that failed stops it. */
function waitForRoom(): void {
  if (!unsent) return;
  for (let n = Atomics.load(unsent, 0); n >= (init.maxUnsent ?? 1); n = Atomics.load(unsent, 0)) Atomics.wait(unsent, 0, n, UNSENT_WAIT_MS);
  if (Atomics.load(unsent, 0) < 0) throw new Error('capture stopped: a piece could not be sent');
  Atomics.add(unsent, 0, 1);
}
const packer = new PiecePacker(init.pieceLength, init.zstdLevel);
const buf = Buffer.allocUnsafe(READ_CHUNK_BYTES);
const pieceBuf = Buffer.allocUnsafe(init.pieceLength);
const reply = (r: PackReply): void => parentPort!.postMessage(r);

/** The bytes of a job's data extents, from its own `data` (an import) or read from the disk. */
function extentReader(job: PackJob): { read(extOffset: number, length: number): Buffer; close(): void } {
  if (job.data) {
    const data = Buffer.from(job.data.buffer, job.data.byteOffset, job.data.byteLength);
    let at = 0;
    return {
      read: (_extOffset, length) => {
        if (at + length > data.length) throw new Error(`job ${job.jobId}: its data ends before its extents do`);
        return data.subarray(at, (at += length));
      },
      close: () => {},
    };
  }
  const disk = openSync(job.diskPath, 'r');
  return {
    read: (extOffset, length) => {
      const got = readSync(disk, buf, 0, length, job.diskOffset + extOffset);
      if (got !== length) throw new Error(`short read from ${job.diskPath} at ${job.diskOffset + extOffset}: ${got} of ${length} bytes`);
      return buf.subarray(0, got);
    },
    close: () => closeSync(disk),
  };
}

/** The bytes of the data runs left in the packer, taken from the job's own data (they are contiguous there). */
function leftoverBytes(job: PackJob, runs: PackExtent[]): Uint8Array {
  const data = job.data!;
  const parts: Uint8Array[] = [];
  for (const [offset, length, kind] of runs) {
    if (kind === RUN_ZERO) continue;
    let at = 0;
    const ext = job.extents.find(([o, l, k]) => {
      if (k === RUN_ZERO) return false;
      if (offset >= o && offset < o + l) return true;
      at += l;
      return false;
    });
    if (!ext) throw new Error(`job ${job.jobId}: leftover run at ${offset} is in none of its extents`);
    const from = at + (offset - ext[0]);
    parts.push(data.subarray(from, from + length));
  }
  return Buffer.concat(parts);
}

function runJob(job: PackJob): void {
  let source: ReturnType<typeof extentReader> | undefined;
  let out = -1;
  try {
    source = extentReader(job);
    out = openSync(job.pieceFile, 'r+');
    const close = (): void => {
      waitForRoom();
      const index = Atomics.add(counters, job.areaSlot, 1);
      const piece = packer.close({ imageId: init.imageId, areaId: job.areaId, index }, pieceBuf);
      writeSync(out, piece.bytes, 0, piece.bytes.length, index * init.pieceLength);
      const coveredBytes = piece.runs.reduce((n, r) => n + r[1], 0);
      reply({ type: 'piece', jobId: job.jobId, areaSlot: job.areaSlot, index, sha1: piece.sha1, rawSha256: piece.rawSha256, runs: piece.runs, coveredBytes });
    };
    packer.reset();
    for (const [extOffset, extLength, kind] of job.extents) {
      let done = 0;
      if (kind === RUN_ZERO) {
        while (done < extLength) {
          done += packer.addZero(extOffset + done, extLength - done);
          if (done < extLength) close();
        }
        continue;
      }
      while (done < extLength) {
        const chunk = source.read(extOffset + done, Math.min(READ_CHUNK_BYTES, extLength - done));
        let fed = 0;
        while (fed < chunk.length) {
          fed += packer.add(extOffset + done + fed, chunk.subarray(fed));
          if (fed < chunk.length) close();
        }
        done += chunk.length;
      }
    }
    let leftover: PackExtent[] = [];
    if (!packer.isEmpty) {
      if (job.final) close();
      else leftover = packer.pendingRuns.map((r) => (r[2] === RUN_ZERO ? [r[0], r[1], RUN_ZERO] : [r[0], r[1]]));
    }
    // Read before the packer is reset: the runs it still holds are what is left over.
    const leftoverData = job.data && leftover.length ? leftoverBytes(job, leftover) : undefined;
    // The pieces must be on disk, not just in the page cache, before the image can be published.
    fdatasyncSync(out);
    packer.reset();
    if (job.data) {
      parentPort!.postMessage({ type: 'done', jobId: job.jobId, leftover, ...(leftoverData && { leftoverData }), returned: job.data } satisfies PackReply, [
        job.data.buffer as ArrayBuffer,
      ]);
    } else reply({ type: 'done', jobId: job.jobId, leftover });
  } finally {
    source?.close();
    if (out >= 0) closeSync(out);
  }
}

serveJobs<PackJob>(runJob);
