/**
 * Deploy over multicast (a multicast task): the storage node's udp-sender streams the image to
 * every PC of the room at once; each piece this PC takes from the stream has named this image and
 * matched its SHA-1 (multicast-receive.ts) and goes to the same PieceWriter as the other
 * transports. After the stream every piece is read back from the disk and checked against the
 * manifest; whatever is missing or bad (lost on the way, a session the PC came too late for) is
 * fetched over unicast. A stream of another image stops the deploy before anything is written.
 */
import { closeSync, openSync, writeSync } from 'node:fs';
import { ShoalError } from '../../shared/errors.js';
import { RUN_DATA, type Manifest } from '../../shared/image/manifest.js';
import { logger } from '../../shared/log.js';
import { finishTargets } from '../deploy/target-disks.js';
import { coveredBytes, prepareDeployTargets } from '../deploy/deploy-targets.js';
import type { DeployStats, DeployTransport } from '../deploy/transport.js';
import { receiveMulticast } from './multicast-receive.js';
import { PieceWriter, type PieceTarget } from '../deploy/piece-writer.js';
import { silentProgress, type Progress } from '../console/progress.js';
import { RateMeter } from '../deploy/rate-meter.js';
import { startUnicastDeploy } from '../unicast/unicast-deploy.js';

const log = logger('multicast');

/**
 * Fault injection for the tests (the real faults — a flaky disk, a bit flipped after the check —
 * cannot be made to order): SHOAL_FAULT_SPOIL_MULTICAST_PIECE=N overwrites the start of torrent
 * piece N's first data run on the target right after it is written, so the read-back check must
 * find it and unicast must repair it. Only inside the piece's own run: never outside the disk.
 */
const FAULT_PIECE = process.env.SHOAL_FAULT_SPOIL_MULTICAST_PIECE ? Number(process.env.SHOAL_FAULT_SPOIL_MULTICAST_PIECE) : -1;

function spoilOnDisk(p: PieceTarget): void {
  const run = p.ref.entry.runs.find((r) => r[2] === RUN_DATA);
  if (!run) return;
  const fd = openSync(p.diskPath, 'r+');
  try {
    writeSync(fd, Buffer.alloc(Math.min(4096, run[1]), 0xa5), 0, Math.min(4096, run[1]), p.place.diskOffset + run[0]);
  } finally {
    closeSync(fd);
  }
  log.warn({ piece: p.ref.index, area: p.place.areaId }, 'SHOAL_FAULT_SPOIL_MULTICAST_PIECE: spoilt this piece on the disk');
}

export interface MulticastDeployRequest {
  manifest: Manifest;
  torrent: Buffer;
  disks: string[];
  /** udpcast's port base of the task's session. */
  portbase: number;
  /** How long to wait for the session to start (the sender waits up to its max-wait for PCs). */
  startTimeoutSeconds: number;
  interface?: string;
  /** Storage nodes' web seed URLs, for the repair over unicast. */
  unicast: string[];
  downloadLimitBytesPerSec?: number;
  timeoutMs?: number;
  resume?: boolean;
  progress?: (label: string, totalBytes: number) => Progress;
}

export async function startMulticastDeploy(req: MulticastDeployRequest): Promise<DeployTransport> {
  const targets = await prepareDeployTargets(req.manifest, req.torrent, req.disks, { resume: req.resume });
  const { pieces } = targets;
  const bar = (req.progress ?? silentProgress)('deploy', targets.bytesTotal);
  bar.update(targets.bytesWritten);
  const meter = new RateMeter();
  let downloaded = 0;
  let fromStream = 0;
  let damaged = 0;
  let repair: DeployTransport | undefined;
  let stopped = false;
  const abort = new AbortController();
  const done = (async () => {
    // A disk that holds the whole image (the same image again) takes nothing from the stream: the
    // session goes on for the PCs that need it.
    if (targets.piecesWritten === pieces.length) {
      log.info({ held: targets.held }, 'every piece already on disk: the multicast stream is not needed');
      return;
    }
    const writer = new PieceWriter(pieces);
    try {
      const r = await receiveMulticast({
        manifest: req.manifest,
        portbase: req.portbase,
        startTimeoutSeconds: req.startTimeoutSeconds,
        signal: abort.signal,
        ...(req.interface && { interface: req.interface }),
        onPiece: (index, bytes) => {
          downloaded += bytes.length;
          meter.add(bytes.length);
          if (targets.have[index]) return;
          if (targets.markWritten(index, writer.write(index, bytes))) fromStream++;
          if (index === FAULT_PIECE) spoilOnDisk(pieces[index]!);
          bar.update(targets.bytesWritten);
        },
      });
      damaged = r.damaged;
    } catch (err) {
      // Another image's stream is refused outright; a session that never came is repaired below.
      if (/another image/.test((err as Error).message)) throw err;
      log.warn({ err: (err as Error).message, portbase: req.portbase }, 'no multicast stream: every piece comes over unicast');
    } finally {
      writer.close();
    }
    if (stopped) throw new ShoalError('multicast deploy stopped');
    // Every piece read back and checked, not just counted: what is not right is fetched again.
    const onDisk = targets.readBack();
    for (const [i, ok] of onDisk.entries()) if (!ok && targets.have[i]) targets.markMissing(i, coveredBytes(pieces[i]!));
    const missing = onDisk.filter((ok) => !ok).length;
    log.info({ fromStream, damaged, missing, total: pieces.length }, 'multicast stream over: the disk checked');
    if (!missing) return;
    repair = await startUnicastDeploy({ ...req, sources: req.unicast, targets });
    await repair.done;
  })().finally(() => bar.stop());
  done.catch(() => {});
  let finished: Promise<void> | undefined;
  return {
    prove: (nonce, indices) => targets.prove(nonce, indices),
    done,
    finish: () => (finished ??= done.then(() => (repair ? repair.finish() : finishTargets(targets.plans)))),
    stats: (): DeployStats => {
      const u = repair?.stats();
      return {
        downloaded: downloaded + (u?.downloaded ?? 0),
        uploaded: 0,
        downloadBytesPerSec: u ? u.downloadBytesPerSec : meter.perSecond(),
        uploadBytesPerSec: 0,
        peers: u?.peers ?? 0,
        ...targets.diskStats(),
        webSeedsAdded: false,
        fromStorageBytes: downloaded + (u?.fromStorageBytes ?? 0),
        bannedPeers: 0,
        corruptPieces: damaged + (u?.corruptPieces ?? 0),
        transport: u ? 'unicast' : 'multicast',
        piecesByTransport: { multicast: fromStream, ...(u && { unicast: u.piecesByTransport.unicast ?? 0 }) },
      };
    },
    stop: async () => {
      stopped = true;
      abort.abort();
      await repair?.stop();
      await done.catch(() => {});
    },
  };
}
