/**
 * Deploy through a BitTorrent swarm: webtorrent fetches pieces from seeders and other PCs, checks
 * each against the torrent, and the DiskPieceStore writes it straight to the target disk, while
 * the pieces held are passed on to the other PCs. Peers are given here; the tracker and the portal
 * that hand them out are the rest of issue 3.
 */
import WebTorrent, { type Torrent } from 'webtorrent';
import { ShoalError } from '../shared/errors.js';
import { torrentPieces, type Manifest } from '../shared/manifest.js';
import { describeTorrent } from '../shared/torrent.js';
import { DEFAULT_RESEED_CACHE_BYTES, DiskPieceStore, type DiskStoreContext, type PieceTarget } from './disk-piece-store.js';
import { finishTargets, prepareTargets, wipeTables } from './deploy.js';
import { silentProgress, type Progress } from './progress.js';
import { piecesOnDisk } from './resume.js';

export interface SwarmDeployRequest {
  manifest: Manifest;
  torrent: Buffer;
  disks: string[];
  /** host:port of seeders and PCs to connect to. */
  peers: string[];
  cacheBytes?: number;
  timeoutMs?: number;
  /** Check what the disk already holds and fetch only the rest (default true). */
  resume?: boolean;
  progress?: (label: string, totalBytes: number) => Progress;
}

export interface SwarmDeploy {
  /** The port this PC accepts peers on. */
  port: number;
  /** Settles when every piece is on disk and the disks are finished (table, swap, growth). */
  done: Promise<void>;
  addPeer(addr: string): void;
  stats(): { downloaded: number; uploaded: number; peers: number; piecesWritten: number; piecesHeld: number };
  /** Leaves the swarm (stops seeding). */
  stop(): Promise<void>;
}

const DEFAULT_TIMEOUT_MS = 6 * 60 * 60_000;

/** [start, end] ranges (inclusive) of the pieces not held. */
function missingRanges(held: boolean[]): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  held.forEach((h, i) => {
    if (h) return;
    const last = out[out.length - 1];
    if (last && last[1] === i - 1) last[1] = i;
    else out.push([i, i]);
  });
  return out;
}

export async function startSwarmDeploy(req: SwarmDeployRequest): Promise<SwarmDeploy> {
  const m = req.manifest;
  const described = describeTorrent(req.torrent);
  const listed = [...torrentPieces(m)];
  if (described.infoHash !== m.infoHash || described.pieceSha1s.some((h, i) => h !== listed[i]?.piece.sha1) || described.pieceSha1s.length !== listed.length) {
    throw new ShoalError(`the torrent does not belong to image ${m.name} v${m.version}`);
  }
  const plans = await prepareTargets(m, req.disks);
  const pieces: PieceTarget[] = listed.map(({ disk, area, index, piece }) => {
    const plan = plans[disk.index]!;
    const place = plan.placements.find((p) => p.area.id === area.id)!.placement;
    return { ref: { imageId: m.imageId, index, entry: piece }, place, diskPath: plan.target.path, diskBytes: plan.target.sizeBytes };
  });
  await wipeTables(plans);
  const covered = (p: PieceTarget): number => p.ref.entry.runs.reduce((s, r) => s + r[1], 0);
  const total = pieces.reduce((n, p) => n + covered(p), 0);
  // A PC restarted mid-deploy: what its disk already holds is not fetched again.
  const held = req.resume === false ? pieces.map(() => false) : piecesOnDisk(pieces);
  const bar = (req.progress ?? silentProgress)('deploy', total);
  let written = pieces.reduce((n, p, i) => n + (held[i] ? covered(p) : 0), 0);
  let count = held.filter(Boolean).length;
  const have = held.slice();
  bar.update(written);
  let allWritten!: () => void;
  const allOnDisk = new Promise<void>((resolve) => (allWritten = resolve));
  const ctx: DiskStoreContext = {
    pieces,
    cacheBytes: req.cacheBytes ?? DEFAULT_RESEED_CACHE_BYTES,
    onWritten: (index, coveredBytes) => {
      if (have[index]) return; // counted once, whoever sent it
      have[index] = true;
      bar.update((written += coveredBytes));
      if (++count === pieces.length) allWritten();
    },
  };
  const client = new WebTorrent({ dht: false, lsd: false, utp: false, tracker: false, webSeeds: false, torrentPort: 0 });
  await new Promise<void>((resolve) => client.once('listening', () => resolve()));
  let failed: (err: Error) => void = () => {};
  const failure = new Promise<never>((_, reject) => (failed = reject));
  client.on('error', (err: Error) => failed(new ShoalError(`swarm: ${err.message}`)));
  if (count === pieces.length) allWritten();
  // Nothing is selected at first; once webtorrent is ready, only the pieces not on disk are.
  const torrent: Torrent = client.add(req.torrent, { store: DiskPieceStore, storeOpts: { shoal: ctx }, storeCacheSlots: 0, path: '/nonexistent-shoal-store', deselect: true }, (t) => {
    for (const [start, end] of missingRanges(held)) t.select(start, end);
  });
  torrent.on('error', (err: Error) => failed(new ShoalError(`swarm: ${err.message}`)));
  // webtorrent takes peers only once it knows the infohash.
  await new Promise<void>((resolve) => torrent.once('infoHash', () => resolve()));
  for (const p of req.peers) torrent.addPeer(p);
  const timeoutMs = req.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new ShoalError(`swarm deploy timed out after ${Math.round(timeoutMs / 1000)} s with ${count} of ${pieces.length} pieces`)), timeoutMs);
  });
  const done = Promise.race([allOnDisk, failure, timeout])
    .then(() => {
      bar.stop();
      return finishTargets(plans);
    })
    .finally(() => clearTimeout(timer));
  done.catch(() => bar.stop());
  return {
    port: client.torrentPort,
    done,
    addPeer: (addr) => void torrent.addPeer(addr),
    stats: () => ({ downloaded: torrent.downloaded, uploaded: torrent.uploaded, peers: torrent.numPeers, piecesWritten: count, piecesHeld: held.filter(Boolean).length }),
    stop: () => {
      // A deploy stopped before it finished settles (rejected), and its timer goes with it.
      clearTimeout(timer);
      failed(new ShoalError(`swarm deploy stopped with ${count} of ${pieces.length} pieces on disk`));
      return new Promise<void>((resolve) => client.destroy(() => resolve()));
    },
  };
}
