/**
 * Deploy through a BitTorrent swarm: webtorrent fetches pieces from seeders and other PCs, checks
 * each against the torrent, and the DiskPieceStore writes it straight to the target disk, while
 * the pieces held are passed on to the other PCs. Peers come from the trackers (announce URLs
 * carrying this PC's key) and from the caller (the seeders, tried directly so that a tracker down at
 * start costs nothing); the seeders' web seeds are added only when the swarm stalls.
 */
import type { Torrent } from 'webtorrent';
import { lanClient } from '../../shared/webtorrent/lan-client.js';
import { ShoalError } from '../../shared/errors.js';
import type { Manifest } from '../../shared/image/manifest.js';
import { UNCHOKE_ALL } from '../../shared/image/torrent.js';
import { DEFAULT_RESEED_CACHE_BYTES, DiskPieceStore, type DiskStoreContext } from '../deploy/disk-piece-store.js';
import { finishTargets } from '../deploy/target-disks.js';
import { torrentInternals } from '../../shared/webtorrent/internals.js';
import { silentProgress, type Progress } from '../console/progress.js';
import { prepareDeployTargets, type DeployTargets } from '../deploy/deploy-targets.js';
import type { DeployStats, DeployTransport } from '../deploy/transport.js';
import { banCorruptPeers } from './peer-ban.js';
import { planStash } from '../deploy/reseed-stash.js';
import { applyPieceOrder, isStorage, shareRange, type PieceOrder, type Share, type Wire } from './piece-order.js';
import { withoutKey } from '../../shared/keys/swarm-key.js';
import { logger } from '../../shared/log.js';
import { knock } from '../../shared/swarm/knock.js';
import { tracePhase, traceSwarm } from '../../shared/swarm/swarm-trace.js';
import { useFairDownloadLimit } from './download-limit.js';
import { dropDuplicateWires } from './duplicate-wires.js';
import { followLabDht } from './lab-dht-peers.js';
import { pieceBuffers, swarmBlockBytes, usePieceBuffers } from './piece-buffers.js';

const log = logger('swarm');

export interface SwarmDeployRequest {
  manifest: Manifest;
  torrent: Buffer;
  disks: string[];
  /** host:port of seeders and PCs to connect to. */
  peers: string[];
  /** Tracker announce URLs (each with this PC's key). */
  announce?: string[];
  /** The swarm's name in the lab's DHT (lab-dht-peers.ts), for when every tracker is down; `peers` bootstrap it. */
  dhtName?: string;
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
  /** Targets already prepared (and what is on disk), instead of preparing `disks` here. */
  targets?: DeployTargets;
}

/** Whom the swarm reached so far: what `auto` decides on after its start-up window. */
export interface SwarmContact {
  /** BitTorrent peers (seeders or PCs; web seeds apart) ever connected. */
  peersConnected: number;
  /** Tracker announces answered. */
  trackerAnswers: number;
  /** Pieces written from the swarm. */
  piecesReceived: number;
}

export interface SwarmDeploy extends DeployTransport {
  /** The port this PC accepts peers on. */
  port: number;
  /** Settles when every piece is on disk; the PC goes on seeding (from its cache and stash) until finish(). */
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
  contact(): SwarmContact;
}

export type SwarmStats = DeployStats;

const DEFAULT_TIMEOUT_MS = 6 * 60 * 60_000;
const WEB_SEED_AFTER_STALL_MS = 15_000;
const STALL_CHECK_MS = 1_000;
/** How long leaving waits for webtorrent to finish setting up a torrent before destroying it. */
const LEAVE_WAIT_MS = 30_000;

export async function startSwarmDeploy(req: SwarmDeployRequest): Promise<SwarmDeploy> {
  const targets = req.targets ?? (await prepareDeployTargets(req.manifest, req.torrent, req.disks, { resume: req.resume }));
  tracePhase('pc', 'resume-checked');
  const { pieces, plans } = targets;
  const held = targets.have.slice();
  const bar = (req.progress ?? silentProgress)('deploy', targets.bytesTotal);
  bar.update(targets.bytesWritten);
  let received = 0;
  let allWritten!: () => void;
  const allOnDisk = new Promise<void>((resolve) => (allWritten = resolve));
  const [shareFrom, shareTo] = shareRange(req.share, pieces.length);
  const mine = req.share && req.share.count > 1 ? (i: number) => i >= shareFrom && i < shareTo : undefined;
  const stash = req.stash === false ? undefined : planStash(pieces, targets.manifest.pieceLength, mine);
  log.info({ stashed: stash?.size ?? 0, pieces: pieces.length }, "reseed stash planned in the target's free space");
  const ctx: DiskStoreContext = {
    pieces,
    cacheBytes: req.cacheBytes ?? DEFAULT_RESEED_CACHE_BYTES,
    keepLongest: mine,
    stash,
    // Pieces come only once webtorrent has the torrent, so `torrent` is set by then.
    peersLack: (index) => torrentInternals<Wire>(torrent).wires.some((w) => !w.peerPieces.get(index)),
    giveBack: (buf) => pieceBuffers.giveBack(buf),
    onWritten: (index, coveredBytes) => {
      if (!targets.markWritten(index, coveredBytes)) return; // counted once, whoever sent it
      received++;
      bar.update(targets.bytesWritten);
      if (targets.piecesWritten === pieces.length) allWritten();
    },
  };
  const { client, pacer } = lanClient({
    announce: Boolean(req.announce?.length),
    webSeeds: true,
    uploadLimitBytesPerSec: req.uploadLimitBytesPerSec,
  });
  useFairDownloadLimit(client, req.downloadLimitBytesPerSec ?? -1);
  usePieceBuffers(swarmBlockBytes(targets.manifest.pieceLength));
  await new Promise<void>((resolve) => client.once('listening', () => resolve()));
  tracePhase('pc', 'listening');
  let failed: (err: Error) => void = () => {};
  const failure = new Promise<never>((_, reject) => (failed = reject));
  client.on('error', (err: Error) => failed(new ShoalError(`swarm: ${err.message}`)));
  if (targets.piecesWritten === pieces.length) allWritten();
  let order: PieceOrder | undefined;
  const stopOrder = (): void => order?.stop();
  // Nothing is selected at first; once webtorrent is ready, only the pieces not on disk are.
  const torrent: Torrent = client.add(
    req.torrent,
    {
      store: DiskPieceStore,
      storeOpts: { shoal: ctx },
      storeCacheSlots: 0,
      path: '/nonexistent-shoal-store',
      deselect: true,
      announce: req.announce ?? [],
      uploads: UNCHOKE_ALL,
    },
    (t) => {
      order = applyPieceOrder(t, held, req.share);
      tracePhase('pc', 'ready');
    },
  );
  const duplicateWires = dropDuplicateWires(torrent, client.peerId);
  pacer?.attach(torrent);
  // A failed tracker announce comes as a warning: what tells the lab DHT the trackers are down.
  let warnings = 0;
  torrent.on('warning', (err: Error) => {
    warnings++;
    log.debug({ err: err.message }, 'swarm warning');
  });
  const bans = banCorruptPeers(torrent);
  const stopTrace = traceSwarm(torrent, 'pc', () => ({
    written: targets.piecesWritten,
    share: req.share,
    extras: order?.extraPieces() ?? 0,
    feed: order?.feed(),
    duplicateWires: duplicateWires(),
  }));
  let fromStorageBytes = 0;
  let peersConnected = 0;
  let trackerAnswers = 0;
  torrent.on('trackerAnnounce', () => trackerAnswers++);
  const firsts = new Set<string>();
  const first = (what: string): void => {
    if (!firsts.has(what)) tracePhase('pc', what);
    firsts.add(what);
  };
  torrent.on('wire', (wire: Wire & { on(e: 'download', f: (n: number) => void): void }) => {
    if (wire.type !== 'webSeed') peersConnected++;
    first(`first wire from ${isStorage(wire) ? 'storage' : 'pc'}`);
    wire.on('download', (n) => {
      first(`first block from ${isStorage(wire) ? 'storage' : 'pc'}`);
      if (isStorage(wire)) fromStorageBytes += n;
    });
  });
  torrent.on('error', (err: Error) => failed(new ShoalError(`swarm: ${err.message}`)));
  // webtorrent takes peers only once it knows the infohash.
  await new Promise<void>((resolve) => torrent.once('infoHash', () => resolve()));
  // The storage nodes serve only addresses that showed a key; the tracker's word may lag this.
  await knock(req.webSeeds ?? [], req.manifest.version, log);
  for (const p of req.peers) torrent.addPeer(p);
  const labDht = req.dhtName
    ? followLabDht({
        name: req.dhtName,
        bootstrap: req.peers,
        port: client.torrentPort,
        trackers: { answers: () => trackerAnswers, failures: () => warnings },
        addPeer: (addr) => void torrent.addPeer(addr),
      })
    : undefined;
  const timeoutMs = req.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new ShoalError(`swarm deploy timed out after ${Math.round(timeoutMs / 1000)} s with ${targets.piecesWritten} of ${pieces.length} pieces`)),
      timeoutMs,
    );
  });
  // Web seeds only when the peers give nothing: they are served from the seeders' disks beyond the
  // BitTorrent upload limit, so a swarm that flows never touches them.
  let lastCount = targets.piecesWritten;
  let lastProgressAt = Date.now();
  let webSeedsAdded = false;
  const stallMs = req.webSeedAfterStallMs ?? WEB_SEED_AFTER_STALL_MS;
  const stallTimer = setInterval(() => {
    if (targets.piecesWritten !== lastCount) {
      lastCount = targets.piecesWritten;
      lastProgressAt = Date.now();
    } else if (!webSeedsAdded && req.webSeeds?.length && Date.now() - lastProgressAt >= stallMs) {
      webSeedsAdded = true;
      log.info({ webSeeds: req.webSeeds.map(withoutKey), stalledMs: Date.now() - lastProgressAt }, 'no piece from peers lately: adding the web seeds');
      for (const url of req.webSeeds) torrent.addWebSeed(url);
    }
  }, STALL_CHECK_MS).unref();
  // A disk that already holds every piece is done at once, but webtorrent is still checking its
  // store then: leaving before 'ready' destroyed the client under that check, which crashed in
  // webtorrent (a null client in Torrent._debug) and left the PC with its table wiped.
  const ready = new Promise<void>((resolve) => (torrent.ready ? resolve() : torrent.once('ready', () => resolve())));
  const done = Promise.race([Promise.all([allOnDisk, ready]), failure, timeout])
    .then(() => {
      bar.stop();
      log.info({ fromStorageBytes, extraPieces: order?.extraPieces() ?? 0 }, 'every piece on disk');
    })
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
    void labDht?.stop();
    // Not before webtorrent's start-up check of the store is over (see `ready`); bounded, as a
    // torrent that failed never gets ready.
    const settled = Promise.race([ready, failure.catch(() => {}), new Promise((r) => setTimeout(r, LEAVE_WAIT_MS).unref())]);
    return (destroyed ??= settled.then(() => new Promise<void>((resolve) => client.destroy(() => resolve()))));
  };
  return {
    port: client.torrentPort,
    prove: (nonce, indices) => targets.prove(nonce, indices),
    done,
    finish: () =>
      (finished ??= done.then(async () => {
        await leave();
        await finishTargets(plans);
      })),
    addPeer: (addr) => void torrent.addPeer(addr),
    stats: () => ({
      downloaded: torrent.downloaded,
      uploaded: torrent.uploaded,
      downloadBytesPerSec: torrent.downloadSpeed,
      uploadBytesPerSec: torrent.uploadSpeed,
      peers: torrent.numPeers,
      ...targets.diskStats(),
      webSeedsAdded,
      fromStorageBytes,
      extraPieces: order?.extraPieces() ?? 0,
      bannedPeers: bans.banned(),
      corruptPieces: bans.corruptPieces(),
      transport: 'swarm',
      piecesByTransport: { swarm: received },
    }),
    contact: () => ({ peersConnected, trackerAnswers, piecesReceived: received }),
    stop: () => {
      // A deploy stopped before it finished settles (rejected), and its timer goes with it.
      clearTimeout(timer);
      clearInterval(stallTimer);
      stopOrder();
      failed(new ShoalError(`swarm deploy stopped with ${targets.piecesWritten} of ${pieces.length} pieces on disk`));
      return leave();
    },
  };
}
