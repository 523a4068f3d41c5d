/**
 * Pieces of a store through the unpack workers: written to target disks (deploy), or only checked
 * where no disk is given (verify re-hashes everything; a capture's read-back compares SHA-1s).
 */
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { ShoalError } from '../../shared/errors.js';
import { pieceFileName, type Area, type Manifest } from '../../shared/image/manifest.js';
import type { AreaPlacement } from '../../shared/image/piece-map.js';
import { WorkerPool } from './worker-pool.js';
import type { UnpackJob, UnpackReply } from './unpack-protocol.js';
import type { PackInit, PackJob, PackReply } from './pack-protocol.js';
import type { Progress } from '../console/progress.js';

/** Where a set of areas goes; a target path of '' means no disk: the pieces are only checked. */
export interface PieceJobTarget {
  target: { path: string; sizeBytes: number };
  placements: Array<{ area: Area; placement: AreaPlacement }>;
}

/** Pieces handed to a worker at once: enough to keep it busy, few enough to share the work evenly. */
const PIECES_PER_JOB = 8;

/** The areas of an image as they lie in the store, for checking without a disk. */
export function inStore(areas: Area[]): PieceJobTarget[] {
  return [
    {
      target: { path: '', sizeBytes: Number.MAX_SAFE_INTEGER },
      placements: areas.map((area) => ({ area, placement: { areaId: area.id, diskOffset: 0, limitBytes: area.sizeBytes } })),
    },
  ];
}

/** Every piece file of the image is there and exactly as long as its pieces. */
export async function assertPieceFiles(m: Pick<Manifest, 'name' | 'pieceLength' | 'disks'>, dir: string): Promise<void> {
  for (const disk of m.disks) {
    for (const area of disk.areas) {
      const file = join(dir, pieceFileName(area));
      const size = await stat(file).then(
        (s) => s.size,
        () => -1,
      );
      const want = area.pieces.length * m.pieceLength;
      if (size !== want) throw new ShoalError(`image ${m.name} is incomplete: ${file} holds ${size < 0 ? 'nothing' : `${size} bytes`}, expected ${want}`);
    }
  }
}

export async function runPieceJobs(
  m: Pick<Manifest, 'imageId' | 'pieceLength'>,
  dir: string,
  plans: PieceJobTarget[],
  progress: (label: string, total: number) => Progress,
  opts: { sha1Only?: boolean; checkRaw?: boolean } = {},
): Promise<void> {
  const jobs: UnpackJob[] = [];
  let total = 0;
  for (const plan of plans) {
    for (const { area, placement } of plan.placements) {
      const pieces = area.pieces.map((entry, index) => ({ index, entry }));
      total += area.pieces.reduce((n, p) => n + p.runs.reduce((s, r) => s + r[1], 0), 0);
      for (let i = 0; i < pieces.length; i += PIECES_PER_JOB) {
        jobs.push({
          jobId: jobs.length,
          imageId: m.imageId,
          pieceLength: m.pieceLength,
          pieceFile: join(dir, pieceFileName(area)),
          diskPath: plan.target.path,
          diskBytes: plan.target.sizeBytes,
          placement,
          pieces: pieces.slice(i, i + PIECES_PER_JOB),
          ...(opts.sha1Only && { sha1Only: true }),
          ...(opts.checkRaw && { checkRaw: true }),
        });
      }
    }
  }
  const pool = new WorkerPool<UnpackJob, UnpackReply>(new URL('./unpack-worker.js', import.meta.url), null);
  const bar = progress(plans[0]?.target.path ? 'deploy' : 'verify', total);
  let done = 0;
  try {
    await Promise.all(
      jobs.map((job) =>
        pool.run(job, (r) => {
          if (r.type === 'piece') bar.update((done += r.coveredBytes));
        }),
      ),
    );
  } finally {
    bar.stop();
    await pool.close();
  }
}

/**
 * The capture's pool of pack workers. Made here, beside the unpack pool, because a worker's URL is
 * taken relative to the module that names it, and the PC's bundle (scripts/build-pc-client.mjs)
 * puts both workers beside the one module that holds this code.
 */
export const packPool = (init: PackInit): WorkerPool<PackJob, PackReply> =>
  new WorkerPool<PackJob, PackReply>(new URL('./pack-worker.js', import.meta.url), init);
