/** Deploy worker: reads pieces from a store, checks each, and writes it to its runs on the target. */
import { parentPort } from 'node:worker_threads';
import { createHash } from 'node:crypto';
import { ShoalError } from '../../shared/errors.js';
import { openSync, readSync, closeSync } from 'node:fs';
import { applyPiece } from '../../shared/image/piece-map.js';
import { fdWriter } from '../disk/disk-writer.js';
import type { UnpackJob, UnpackReply } from './unpack-protocol.js';
import { serveJobs } from './job-loop.js';

let pieceBuf = Buffer.alloc(0);
const reply = (r: UnpackReply): void => parentPort!.postMessage(r);

function runJob(job: UnpackJob): void {
  if (pieceBuf.length !== job.pieceLength) pieceBuf = Buffer.allocUnsafe(job.pieceLength);
  let src = -1;
  let disk = -1;
  try {
    src = openSync(job.pieceFile, 'r');
    // No disk path: a dry run that checks and decompresses every piece (shoal verify).
    if (job.diskPath) disk = openSync(job.diskPath, 'r+');
    for (const { index, entry } of job.pieces) {
      const got = readSync(src, pieceBuf, 0, job.pieceLength, index * job.pieceLength);
      if (got !== job.pieceLength) throw new Error(`piece ${index} of ${job.placement.areaId} is truncated in the store (${got} of ${job.pieceLength} bytes)`);
      let covered = 0;
      if (job.sha1Only) {
        if (createHash('sha1').update(pieceBuf).digest('hex') !== entry.sha1)
          throw new ShoalError(`piece ${index} of ${job.placement.areaId} does not read back as written`);
        reply({ type: 'piece', jobId: job.jobId, index, coveredBytes: entry.runs.reduce((n, r) => n + r[1], 0) });
        continue;
      }
      const write = disk >= 0 ? fdWriter(disk) : undefined;
      applyPiece(
        pieceBuf,
        { imageId: job.imageId, index, entry },
        job.placement,
        job.diskBytes,
        (at, length, chunk) => {
          covered += length;
          write?.(at, length, chunk);
        },
        { checkRaw: job.checkRaw ?? false },
      );
      reply({ type: 'piece', jobId: job.jobId, index, coveredBytes: covered });
    }
    reply({ type: 'done', jobId: job.jobId });
  } finally {
    if (src >= 0) closeSync(src);
    if (disk >= 0) closeSync(disk);
  }
}

serveJobs<UnpackJob>(runJob);
