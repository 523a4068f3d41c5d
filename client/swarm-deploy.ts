/**
 * Deploy through a BitTorrent swarm: webtorrent fetches pieces from seeders and other PCs, checks
 * each against the torrent, and the DiskPieceStore writes it straight to the target disk, while
 * the pieces held are passed on to the other PCs. Peers come from the trackers (announce URLs
 * carrying this PC's key) and from the caller (the seeders, tried directly so that a tracker down at
 * start costs nothing); the seeders' web seeds are added only when the swarm stalls.
 */
import WebTorrent, { type Torrent } from 'webtorrent';
import { ShoalError } from '../shared/errors.js';
import { torrentPieces, type Manifest } from '../shared/manifest.js';
import { describeTorrent, UNCHOKE_ALL } from '../shared/torrent.js';
import { DEFAULT_RESEED_CACHE_BYTES, DiskPieceStore, type DiskStoreContext, type PieceTarget } from './disk-piece-store.js';
import { finishTargets, prepareTargets, wipeTables } from './deploy.js';
import { silentProgress, type Progress } from './progress.js';
import { piecesOnDisk } from './resume.js';
import { banCorruptPeers } from './peer-ban.js';
import { planStash } from './reseed-stash.js';
import { applyPieceOrder, isStorage, shareRange, type Share, type Wire } from './piece-order.js';
import { logger } from '../shared/log.js';
import { tracePhase, traceSwarm } from '../shared/swarm-trace.js';
import { UploadPacer } from '../shared/upload-pacer.js';

const log = logger('swarm');

export interface SwarmDeployRequest {
  manifest: Manifest;
  torrent: Buffer;
  disks: string[];
  /** host:port of seeders and PCs to connect to. */
  peers: string[];
  /** Tracker announce URLs (each with this PC's key). */
  announce?: string[];
  /** BEP 19 web seeds, used when no piece has arrived for `webSeedAfterStallMs`. */
  webSeeds?: string[];
  webSeedAfterStallMs?: number;
  /** This PC's own up and down limit, bytes/s (-1: none). */
  downloadLimitBytesPerSec?: number;
  uploadLimitBytesPerSec?: number;
  /** This PC's share of a group deploy (what it fetches from the storage nodes; see piece-order.ts). */
  share?: Share;
  cacheBytes?: number;
  timeoutMs?: number;
  /** Check what the disk already holds and fetch only the rest (default true). */
  resume?: boolean;
  /** Keep pieces for reseeding in the target's free space (default true); false: memory only. */
  stash?: boolean;
  progress?: (label: string, totalBytes: number) => Progress;
}

export interface SwarmDeploy {
  /** The port this PC accepts peers on. */
  port: number;
  /** Settles when every piece is on disk; the PC goes on seeding (from its stash) until finish(). */
  done: Promise<void>;
  /**
   * Stops seeding, then finishes the disks (swap, growth, backup boot sectors, the table), which
   * may write where the stash was: so the order, as DESIGN.md's corrections ask.
   */
  finish(): Promise<void>;
  addPeer(addr: string): void;
  stats(): SwarmStats;
  /** Leaves the swarm (stops seeding). */
  stop(): Promise<void>;
}

export interface SwarmStats {
  downloaded: number;
  uploaded: number;
  downloadBytesPerSec: number;
  uploadBytesPerSec: number;
  peers: number;
  /** Pieces on disk now, and in all. */
  piecesWritten: number;
  piecesTotal: number;
  /** Pieces found on disk at start (resume). */
  piecesHeld: number;
  bytesWritten: number;
  bytesTotal: number;
  webSeedsAdded: boolean;
  /** Of `downloaded`, what came from storage nodes and web seeds (the rest came from PCs). */
  fromStorageBytes: number;
  /** Peers dropped for sending corrupt pieces, and the pieces that failed their check. */
  bannedPeers: number;
  corruptPieces: number;
}

const DEFAULT_TIMEOUT_MS = 6 * 60 * 60_000;
const WEB_SEED_AFTER_STALL_MS = 15_000;
const STALL_CHECK_MS = 1_000;

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
  tracePhase('pc', 'prepared');
  const covered = (p: PieceTarget): number => p.ref.entry.runs.reduce((s, r) => s + r[1], 0);
  const total = pieces.reduce((n, p) => n + covered(p), 0);
  // A PC restarted mid-deploy: what its disk already holds is not fetched again.
  const held = req.resume === false ? pieces.map(() => false) : piecesOnDisk(pieces);
  const bar = (req.progress ?? silentProgress)('deploy', total);
  let written = pieces.reduce((n, p, i) => n + (held[i] ? covered(p) : 0), 0);
  let count = held.filter(Boolean).length;
  const have = held.slice();
  bar.update(written);
  tracePhase('pc', 'resume-checked');
  let allWritten!: () => void;
  const allOnDisk = new Promise<void>((resolve) => (allWritten = resolve));
  const [shareFrom, shareTo] = shareRange(req.share, pieces.length);
  const mine = req.share && req.share.count > 1 ? (i: number) => i >= shareFrom && i < shareTo : undefined;
  const stash = req.stash === false ? undefined : planStash(pieces, m.pieceLength, mine);
  log.info({ stashed: stash?.size ?? 0, pieces: pieces.length }, 'reseed stash planned in the target\'s free space');
  const ctx: DiskStoreContext = {
    pieces,
    cacheBytes: req.cacheBytes ?? DEFAULT_RESEED_CACHE_BYTES,
    keepLongest: mine,
    stash,
    onWritten: (index, coveredBytes) => {
      if (have[index]) return; // counted once, whoever sent it
      have[index] = true;
      bar.update((written += coveredBytes));
      if (++count === pieces.length) allWritten();
    },
  };
  const upLimit = req.uploadLimitBytesPerSec ?? -1;
  const pacer = upLimit > 0 ? new UploadPacer(upLimit) : undefined;
  const client = new WebTorrent({
    dht: false, lsd: false, utp: false, natUpnp: false, natPmp: false, tracker: req.announce?.length ? {} : false, webSeeds: true, torrentPort: 0,
    downloadLimit: req.downloadLimitBytesPerSec ?? -1, uploadLimit: pacer ? -1 : upLimit,
  });
  await new Promise<void>((resolve) => client.once('listening', () => resolve()));
  tracePhase('pc', 'listening');
  let failed: (err: Error) => void = () => {};
  const failure = new Promise<never>((_, reject) => (failed = reject));
  client.on('error', (err: Error) => failed(new ShoalError(`swarm: ${err.message}`)));
  if (count === pieces.length) allWritten();
  let stopOrder = (): void => {};
  // Nothing is selected at first; once webtorrent is ready, only the pieces not on disk are.
  const torrent: Torrent = client.add(req.torrent, {
    store: DiskPieceStore, storeOpts: { shoal: ctx }, storeCacheSlots: 0, path: '/nonexistent-shoal-store', deselect: true, announce: req.announce ?? [], uploads: UNCHOKE_ALL,
  }, (t) => {
    stopOrder = applyPieceOrder(t, held, req.share);
    tracePhase('pc', 'ready');
  });
  pacer?.attach(torrent);
  torrent.on('warning', (err: Error) => log.debug({ err: err.message }, 'swarm warning'));
  const bans = banCorruptPeers(torrent);
  const stopTrace = traceSwarm(torrent, 'pc', () => ({ written: count, share: req.share }));
  let fromStorageBytes = 0;
  const firsts = new Set<string>();
  const first = (what: string): void => {
    if (!firsts.has(what)) tracePhase('pc', what);
    firsts.add(what);
  };
  torrent.on('wire', (wire: Wire & { on(e: 'download', f: (n: number) => void): void }) => {
    first(`first wire from ${isStorage(wire) ? 'storage' : 'pc'}`);
    wire.on('download', (n) => {
      first(`first block from ${isStorage(wire) ? 'storage' : 'pc'}`);
      if (isStorage(wire)) fromStorageBytes += n;
    });
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
  // Web seeds only when the peers give nothing: they are served from the seeders' disks beyond the
  // BitTorrent upload limit, so a swarm that flows never touches them.
  let lastCount = count;
  let lastProgressAt = Date.now();
  let webSeedsAdded = false;
  const stallMs = req.webSeedAfterStallMs ?? WEB_SEED_AFTER_STALL_MS;
  const stallTimer = setInterval(() => {
    if (count !== lastCount) {
      lastCount = count;
      lastProgressAt = Date.now();
    } else if (!webSeedsAdded && req.webSeeds?.length && Date.now() - lastProgressAt >= stallMs) {
      webSeedsAdded = true;
      log.info({ webSeeds: req.webSeeds, stalledMs: Date.now() - lastProgressAt }, 'no piece from peers lately: adding the web seeds');
      for (const url of req.webSeeds) torrent.addWebSeed(url);
    }
  }, STALL_CHECK_MS).unref();
  const done = Promise.race([allOnDisk, failure, timeout])
    .then(() => bar.stop())
    .finally(() => {
      clearTimeout(timer);
      clearInterval(stallTimer);
      stopOrder();
    });
  done.catch(() => bar.stop());
  let finished: Promise<void> | undefined;
  let destroyed: Promise<void> | undefined;
  const leave = (): Promise<void> => {
    stopTrace();
    pacer?.stop();
    return (destroyed ??= new Promise<void>((resolve) => client.destroy(() => resolve())));
  };
  return {
    port: client.torrentPort,
    done,
    finish: () =>
      (finished ??= done.then(async () => {
        await leave();
        await finishTargets(plans);
      })),
    addPeer: (addr) => void torrent.addPeer(addr),
    stats: () => ({
      downloaded: torrent.downloaded, uploaded: torrent.uploaded, downloadBytesPerSec: torrent.downloadSpeed, uploadBytesPerSec: torrent.uploadSpeed,
      peers: torrent.numPeers, piecesWritten: count, piecesTotal: pieces.length, piecesHeld: held.filter(Boolean).length,
      bytesWritten: written, bytesTotal: total, webSeedsAdded, fromStorageBytes, bannedPeers: bans.banned(), corruptPieces: bans.corruptPieces(),
    }),
    stop: () => {
      // A deploy stopped before it finished settles (rejected), and its timer goes with it.
      clearTimeout(timer);
      clearInterval(stallTimer);
      stopOrder();
      failed(new ShoalError(`swarm deploy stopped with ${count} of ${pieces.length} pieces on disk`));
      return leave();
    },
  };
}
