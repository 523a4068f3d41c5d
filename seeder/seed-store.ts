/**
 * Seeds the published images of a store with webtorrent, straight from the piece files: the
 * torrent of STORE/NAME/vN is named "vN", so STORE/NAME is its content as it lies. The capture
 * verified every piece before publishing, so nothing is re-hashed at start (skipVerify).
 * A rescan picks up images published since (a capture, a replication).
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Torrent } from 'webtorrent';
import { lanClient } from '../shared/webtorrent/lan-client.js';
import { TORRENT_FILE } from '../shared/image/manifest.js';
import { listImages, openImage } from '../shared/image/store.js';
import { logger } from '../shared/log.js';
import { seederPeerId } from '../shared/swarm/peer-id.js';
import { UNCHOKE_ALL } from '../shared/image/torrent.js';
import { traceSwarm } from '../shared/swarm/swarm-trace.js';

const log = logger('seeder');

export interface SeededImage {
  name: string;
  version: number;
  infoHash: string;
  torrent: Torrent;
}

export interface StoreImage {
  name: string;
  version: number;
  infoHash: string;
}

export interface Seeder {
  port: number;
  /** infohash → torrent */
  torrents: Map<string, Torrent>;
  images(): SeededImage[];
  uploadedBytes(): number;
  /** The published images in the store, seeded yet or not. */
  scan(): Promise<StoreImage[]>;
  /** Seeds what was published in the store since the last scan; returns the images added. */
  rescan(found?: StoreImage[]): Promise<SeededImage[]>;
  /** Announces every image to the trackers now (after the portal has learnt of new ones). */
  reannounce(): void;
  /** Stops seeding an image (its files are left as they are: purge.ts removes them). */
  drop(infoHash: string): Promise<void>;
  stop(): Promise<void>;
}

export interface SeederOptions {
  store: string;
  port?: number;
  /** The seeder's share of the lab's links (-1: no limit). */
  uploadLimitBytesPerSec?: number;
  /** The announce URLs (with this seeder's key) for an image; none: peers are added by hand. */
  announce?: (infoHash: string) => string[];
  /** Do not seed what the store holds until the first rescan (the node reports to the portal first). */
  deferStart?: boolean;
  /** Hex peer ID; default: a storage node's (`-SHOALS-…`). Tests pass another to pose as a PC. */
  peerId?: string;
  /**
   * Whether to serve an address this image (a storage node's PeerAdmission); none: serve every
   * peer (a test's seeder posing as a PC).
   */
  admits?: (infoHash: string, ip: string) => Promise<boolean>;
}

/**
 * Holds a peer choked until `admits` says yes, and hangs up on a no: a choked peer's requests are
 * refused (BEP 6) or ignored, so nothing of the image reaches it before.
 */
function gateWire(
  wire: { unchoke(): void; destroy(): void; destroyed?: boolean },
  addr: string,
  infoHash: string,
  admits: NonNullable<SeederOptions['admits']>,
  image: string,
): void {
  const ip = addr.replace(/:\d+$/, '').replace(/^\[|\]$/g, '');
  const unchoke = wire.unchoke.bind(wire);
  let open = false;
  let wanted = false;
  wire.unchoke = () => {
    if (open) unchoke();
    else wanted = true;
  };
  void admits(infoHash, ip).then((ok) => {
    if (wire.destroyed) return;
    if (!ok) {
      log.warn({ image, peer: addr }, 'refused a peer that showed no key for this image (to a tracker or to this node)');
      return wire.destroy();
    }
    open = true;
    if (wanted) unchoke();
  });
}

export async function startSeeder(opts: SeederOptions): Promise<Seeder> {
  const { client, pacer } = lanClient({
    announce: Boolean(opts.announce),
    webSeeds: false,
    port: opts.port,
    peerId: opts.peerId ?? seederPeerId(),
    uploadLimitBytesPerSec: opts.uploadLimitBytesPerSec,
  });
  client.on('error', (err: Error) => log.error({ err: err.message }, 'seeding failed'));
  await new Promise<void>((resolve) => client.once('listening', () => resolve()));
  const seeded = new Map<string, SeededImage>();
  const torrents = new Map<string, Torrent>();

  const scan = async (): Promise<StoreImage[]> => {
    const found: StoreImage[] = [];
    for (const { name, versions } of await listImages(opts.store)) {
      for (const version of versions) {
        const known = [...seeded.values()].find((s) => s.name === name && s.version === version);
        if (known) {
          found.push({ name, version, infoHash: known.infoHash });
          continue;
        }
        try {
          const { manifest } = await openImage(opts.store, name, version);
          found.push({ name, version, infoHash: manifest.infoHash });
        } catch (err) {
          log.error({ image: name, version, err: (err as Error).message }, 'cannot read this image');
        }
      }
    }
    return found;
  };

  const rescan = async (given?: StoreImage[]): Promise<SeededImage[]> => {
    const added: SeededImage[] = [];
    for (const { name, version, infoHash } of given ?? (await scan())) {
      if (seeded.has(infoHash)) continue;
      try {
        const buf = await readFile(join(opts.store, name, `v${version}`, TORRENT_FILE));
        const announce = opts.announce?.(infoHash) ?? [];
        // A torrent webtorrent cannot add calls back never: its error settles this instead.
        const torrent = await new Promise<Torrent>((resolve, reject) => {
          const t = client.add(buf, { path: join(opts.store, name), skipVerify: true, announce, uploads: UNCHOKE_ALL }, resolve);
          t.once('error', reject);
          pacer?.attach(t);
        });
        torrent.on('warning', (err: Error) => log.debug({ image: name, version, err: err.message }, 'torrent warning'));
        const admits = opts.admits;
        if (admits) torrent.on('wire', (wire: Parameters<typeof gateWire>[0], addr: string) => gateWire(wire, addr, infoHash, admits, `${name} v${version}`));
        traceSwarm(torrent, `seeder-${name}-v${version}`);
        const image = { name, version, infoHash, torrent };
        seeded.set(infoHash, image);
        torrents.set(infoHash, torrent);
        added.push(image);
        log.info({ image: name, version, infoHash }, 'seeding');
      } catch (err) {
        log.error({ image: name, version, err: (err as Error).message }, 'cannot seed this image');
      }
    }
    return added;
  };
  if (!opts.deferStart) await rescan();
  return {
    port: client.torrentPort,
    torrents,
    images: () => [...seeded.values()],
    uploadedBytes: () => [...torrents.values()].reduce((n, t) => n + t.uploaded, 0),
    scan,
    rescan,
    reannounce: () => {
      for (const t of torrents.values()) t.discovery?.tracker?.update();
    },
    drop: async (infoHash) => {
      const t = torrents.get(infoHash);
      seeded.delete(infoHash);
      torrents.delete(infoHash);
      // A torrent's destroy takes it out of the client too; its store (the image's files) stays.
      if (t) await new Promise<void>((resolve) => t.destroy({ destroyStore: false }, () => resolve()));
    },
    stop: () => {
      pacer?.stop();
      return new Promise<void>((resolve) => client.destroy(() => resolve()));
    },
  };
}
