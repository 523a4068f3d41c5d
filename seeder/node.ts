/**
 * A storage node (the server is one too): seeds every image in its store over BitTorrent and HTTP,
 * rescans the store for newly published images, and reports what it holds to the portal every few
 * seconds, which is how the portal (and through it the trackers) learns an image is published.
 */
import { statfs } from 'node:fs/promises';
import { lanAddress } from '../shared/lan-address.js';
import { NODE_KEY_SCOPE } from '../shared/keys/lab-secret.js';
import { issueSwarmKey } from '../shared/keys/swarm-key.js';
import { API, HeartbeatReplySchema, ReplicaSourceSchema, type NodeHeartbeat } from '../shared/http/api.js';
import { PortalClient, PortalError } from '../shared/http/portal-client.js';
import { replicateImage } from './replicate.js';
import { purgeVersion } from './purge.js';
import { MulticastSessions } from './multicast-sessions.js';
import { logger } from '../shared/log.js';
import { startSeeder, type SeededImage, type Seeder, type StoreImage } from './seed-store.js';
import { startSeederHttp, type SeederHttp } from './http-api.js';
import { SeederMetrics } from './metrics.js';
import { PeerAdmission } from './admission.js';
import { SiteKeys } from './site-keys.js';
import { NodeJobs } from './node-jobs.js';
import { DEFAULT_SHOAL_CLI } from './import-folder.js';
import { PULL_KEEP_MS, sweepStalePulls } from './pull-image.js';
import { labDhtName, startLabDht, type LabDht } from '../shared/swarm/lab-dht.js';

const log = logger('seeder');

export interface StorageNodeConfig {
  name: string;
  store: string;
  secret: string;
  portalUrl?: string;
  /** Tracker base URLs this node announces to. */
  trackers: string[];
  /** The address PCs reach this node at. */
  advertiseHost: string;
  host: string;
  httpPort: number;
  btPort: number;
  uploadLimitBytesPerSec: number;
  heartbeatMs: number;
  rescanMs: number;
  /** Fetch every published image this node lacks, through its swarm. */
  replicate: boolean;
  /** The interface multicast sessions are sent on (default: udpcast's choice). */
  multicastInterface?: string;
  /** The folder import jobs may read image folders from (none: this node takes no imports). */
  importRoot?: string;
  /** The `shoal` CLI import jobs run (default: the built one beside this process). */
  shoalCli?: string;
}

/** The store's filesystem, for the portal's storage view; nothing when it cannot be read. */
async function storeSpace(store: string): Promise<{ capacityBytes?: number; freeBytes?: number }> {
  try {
    const s = await statfs(store);
    return { capacityBytes: s.blocks * s.bsize, freeBytes: s.bavail * s.bsize };
  } catch {
    return {};
  }
}

export const DEFAULT_SEEDER_HTTP_PORT = 8081;
export const DEFAULT_SEEDER_BT_PORT = 6881;
const SEEDER_KEY_LIFETIME_MS = 365 * 24 * 3_600_000;
const REANNOUNCE_MS = 30_000;
const REPLICATION_RETRY_MS = 5 * 60_000;
/** A DHT forgets an announce after a while (bittorrent-dht keeps them; other DHTs 30 min): renewed well before. */
const DHT_REANNOUNCE_MS = 10 * 60_000;
/** How often the pieces of failed pulls are looked at (pull-image.ts, sweepStalePulls). */
const PULL_SWEEP_MS = 3600_000;

export function storageNodeConfig(given: Partial<StorageNodeConfig> & { store: string; secret: string }): StorageNodeConfig {
  return {
    name: given.name ?? 'server',
    store: given.store,
    secret: given.secret,
    portalUrl: given.portalUrl,
    trackers: given.trackers ?? [],
    advertiseHost: given.advertiseHost ?? lanAddress(),
    host: given.host ?? '0.0.0.0',
    httpPort: given.httpPort ?? DEFAULT_SEEDER_HTTP_PORT,
    btPort: given.btPort ?? DEFAULT_SEEDER_BT_PORT,
    uploadLimitBytesPerSec: given.uploadLimitBytesPerSec ?? -1,
    heartbeatMs: given.heartbeatMs ?? 5_000,
    rescanMs: given.rescanMs ?? 10_000,
    replicate: given.replicate ?? false,
    ...(given.multicastInterface && { multicastInterface: given.multicastInterface }),
    ...(given.importRoot && { importRoot: given.importRoot }),
    shoalCli: given.shoalCli ?? DEFAULT_SHOAL_CLI,
  };
}

export interface StorageNode {
  config: StorageNodeConfig;
  seeder: Seeder;
  http: SeederHttp;
  /** Scans the store, reports to the portal and seeds what is new, now. */
  sync(): Promise<SeededImage[]>;
  stop: () => Promise<void>;
}

export async function startStorageNode(given: Partial<StorageNodeConfig> & { store: string; secret: string }): Promise<StorageNode> {
  const config = storageNodeConfig(given);
  const key = (infoHash: string) => issueSwarmKey(config.secret, infoHash, config.name, Date.now() + SEEDER_KEY_LIFETIME_MS);
  const admission = new PeerAdmission({ trackers: config.trackers, secret: config.secret, name: config.name });
  const seeder = await startSeeder({
    store: config.store,
    port: config.btPort,
    uploadLimitBytesPerSec: config.uploadLimitBytesPerSec,
    admits: (infoHash, ip) => admission.admits(infoHash, ip),
    announce: config.trackers.length ? (infoHash) => announceFor(infoHash) : undefined,
    deferStart: true,
  });
  // The lab's DHT, for PCs when every tracker is down: this node answers on its BitTorrent port's
  // number over UDP (the PCs' tickets list that address) and announces every image it seeds.
  const dht: LabDht | undefined = await startLabDht({ bootstrap: [], host: config.host, port: seeder.port, advertise: config.advertiseHost }).catch(
    (err: unknown) => {
      log.warn({ err: (err as Error).message, port: seeder.port }, "cannot answer the lab's DHT; PCs rely on the trackers");
      return undefined;
    },
  );
  const inDht = new Set<string>();
  const announceInDht = (again = false): void => {
    if (!dht) return;
    for (const { infoHash } of seeder.images()) {
      if (inDht.has(infoHash) && !again) continue;
      inDht.add(infoHash);
      dht.announce(labDhtName(config.secret, infoHash), seeder.port).catch((err: unknown) => log.debug({ err, infoHash }, 'DHT announce'));
    }
  };
  const metrics = new SeederMetrics(() => seeder);
  const siteKeys = new SiteKeys(config.secret);
  // POST /rescan (after a capture published into this store) reports to the portal at once.
  const http = await startSeederHttp({
    store: config.store,
    secret: config.secret,
    seeder,
    metrics,
    port: config.httpPort,
    host: config.host,
    rescan: () => sync(),
    admission,
    siteKeys,
  });
  const httpUrl = `http://${config.advertiseHost}:${http.port}`;

  // A fresh key for each call: it lives a minute.
  const nodeKey = () => issueSwarmKey(config.secret, NODE_KEY_SCOPE, config.name, Date.now() + 60_000);
  const portal = config.portalUrl ? new PortalClient({ url: config.portalUrl, timeoutMs: 10_000 }) : undefined;
  const announceFor = (infoHash: string) => config.trackers.map((t) => `${t.replace(/\/+$/, '')}/${key(infoHash)}/announce`);
  let replicating: Promise<void> | undefined;
  const multicast = new MulticastSessions(config.store, config.multicastInterface);
  // Imports and pulls the portal hands this node (node-jobs.ts); they report their store through sync.
  const jobs = portal
    ? new NodeJobs({
        name: config.name,
        store: config.store,
        importRoot: config.importRoot,
        shoalCli: config.shoalCli!,
        portal,
        nodeKey: () => nodeKey(),
        sync: () => sync().then(() => sync()),
      })
    : undefined;
  const failedAt = new Map<string, number>();
  // Versions the portal says were deleted: no longer seeded, their folders removed (purge.ts).
  const purging = new Set<string>();
  async function purge(refs: StoreImage[]): Promise<void> {
    for (const ref of refs) {
      if (purging.has(ref.infoHash)) continue;
      purging.add(ref.infoHash);
      try {
        await purgeVersion(config.store, ref, (infoHash) => seeder.drop(infoHash));
      } catch (err) {
        log.error(
          { image: ref.name, version: ref.version, err: (err as Error).message },
          'cannot remove a deleted image; the portal names it again at the next report',
        );
      } finally {
        purging.delete(ref.infoHash);
      }
    }
  }
  /** Reports to the portal; returns the infohashes it said to purge (gone from the store now). */
  async function heartbeat(images: StoreImage[]): Promise<Set<string>> {
    if (!portal) return new Set();
    const space = await storeSpace(config.store);
    const body: NodeHeartbeat = {
      name: config.name,
      httpUrl,
      btAddr: `${config.advertiseHost}:${seeder.port}`,
      images,
      replicate: config.replicate,
      ...space,
      ...(config.uploadLimitBytesPerSec > 0 && { uploadLimit: config.uploadLimitBytesPerSec }),
      uploadBytesPerSec: seeder.images().reduce((sum, i) => sum + (i.torrent.uploadSpeed || 0), 0),
      multicast: multicast.statuses(),
      ...(jobs && { jobs: jobs.ids() }),
    };
    try {
      const reply = await portal.post(HeartbeatReplySchema, `${API}/nodes/heartbeat`, body, { token: nodeKey() });
      // One replication at a time; what is still lacking comes up again at the next heartbeat. One
      // that failed waits a while, so that an image nobody can serve does not hold up the others.
      const next = reply.replicate.find((i) => (failedAt.get(i.infoHash) ?? 0) < Date.now() - REPLICATION_RETRY_MS);
      if (next && !replicating) replicating = replicate(next).finally(() => (replicating = undefined));
      await multicast.follow(reply.multicast);
      siteKeys.follow(reply.revokedSiteKeys);
      jobs?.follow(reply.jobs);
      await purge(reply.purge);
      return new Set(reply.purge.map((p) => p.infoHash));
    } catch (err) {
      if (err instanceof PortalError) log.warn({ status: err.status, body: err.said }, "the portal refused this node's report");
      else log.warn({ err: (err as Error).message, portal: config.portalUrl }, 'cannot reach the portal');
      return new Set();
    }
  }
  async function replicate(image: { name: string; version: number; infoHash: string }): Promise<void> {
    try {
      if (!portal) return;
      const source = await portal.get(ReplicaSourceSchema, `${API}/nodes/${config.name}/images/${image.infoHash}`, { token: nodeKey() });
      await replicateImage({ store: config.store, source, announce: announceFor(image.infoHash) });
      await sync();
      failedAt.delete(image.infoHash);
    } catch (err) {
      failedAt.set(image.infoHash, Date.now());
      log.error(
        { image: image.name, version: image.version, err: (err as Error).message },
        `replication failed; will retry in ${REPLICATION_RETRY_MS / 60_000} min`,
      );
    }
  }
  // The portal hears of a new image before the trackers are asked to admit its swarm: an announce
  // the tracker refuses is not retried for a whole interval.
  let syncing: Promise<SeededImage[]> | undefined;
  const sync = (): Promise<SeededImage[]> =>
    (syncing ??= (async () => {
      try {
        const found = await seeder.scan();
        const purged = await heartbeat(found);
        const seeded = await seeder.rescan(found.filter((f) => !purged.has(f.infoHash)));
        announceInDht();
        return seeded;
      } finally {
        syncing = undefined;
      }
    })());
  await sync();
  const sweepPulls = (): void =>
    void sweepStalePulls(config.store)
      .then((dropped) => dropped.length && log.info({ dropped }, `dropped the pieces of pulls not resumed for ${PULL_KEEP_MS / 86_400_000} days`))
      .catch((err: unknown) => log.warn({ err: (err as Error).message }, 'could not sweep old pulls'));
  sweepPulls();
  // Bounded by the node's life; unref'd so they never keep a stopping process up.
  const beats = setInterval(
    () => void heartbeat(seeder.images().map(({ name, version, infoHash }) => ({ name, version, infoHash }))),
    config.heartbeatMs,
  ).unref();
  const scans = setInterval(() => void sync(), config.rescanMs).unref();
  // A tracker that restarted, or refused while the portal was down, hears from this node again soon.
  const announces = setInterval(() => seeder.reannounce(), REANNOUNCE_MS).unref();
  const dhtAnnounces = setInterval(() => announceInDht(true), DHT_REANNOUNCE_MS).unref();
  const pullSweeps = setInterval(sweepPulls, PULL_SWEEP_MS).unref();
  log.info({ name: config.name, http: httpUrl, bt: seeder.port, images: seeder.images().length }, 'storage node up');
  return {
    config,
    seeder,
    http,
    sync,
    stop: async () => {
      clearInterval(beats);
      clearInterval(scans);
      clearInterval(announces);
      clearInterval(dhtAnnounces);
      clearInterval(pullSweeps);
      multicast.stop();
      jobs?.stop();
      await http.close();
      await seeder.stop();
      await dht?.destroy();
    },
  };
}
