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

function runJob(job: PackJob): void {
  let disk = -1;
  let out = -1;
  try {
    disk = openSync(job.diskPath, 'r');
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
        const want = Math.min(READ_CHUNK_BYTES, extLength - done);
        const got = readSync(disk, buf, 0, want, job.diskOffset + extOffset + done);
        if (got !== want) throw new Error(`short read from ${job.diskPath} at ${job.diskOffset + extOffset + done}: ${got} of ${want} bytes`);
        let fed = 0;
        while (fed < got) {
          fed += packer.add(extOffset + done + fed, buf.subarray(fed, got));
          if (fed < got) close();
        }
        done += got;
      }
    }
    let leftover: PackExtent[] = [];
    if (!packer.isEmpty) {
      if (job.final) close();
      else leftover = packer.pendingRuns.map((r) => (r[2] === RUN_ZERO ? [r[0], r[1], RUN_ZERO] : [r[0], r[1]]));
    }
    // The pieces must be on disk, not just in the page cache, before the image can be published.
    fdatasyncSync(out);
    packer.reset();
    reply({ type: 'done', jobId: job.jobId, leftover });
  } finally {
    if (disk >= 0) closeSync(disk);
    if (out >= 0) closeSync(out);
  }
}

serveJobs<PackJob>(runJob);
