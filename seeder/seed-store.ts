/**
 * Seeds the published images of a store with webtorrent, straight from the piece files: the
 * torrent of STORE/NAME/vN is named "vN", so STORE/NAME is its content as it lies. The capture
 * verified every piece before publishing, so nothing is re-hashed at start (skipVerify).
 * A rescan picks up images published since (a capture, a replication).
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import WebTorrent, { type Torrent } from 'webtorrent';
import { TORRENT_FILE } from '../shared/manifest.js';
import { listImages, openImage } from '../shared/store.js';
import { logger } from '../shared/log.js';

const log = logger('seeder');

export interface SeededImage {
  name: string;
  version: number;
  infoHash: string;
  torrent: Torrent;
}

export interface Seeder {
  port: number;
  /** infohash → torrent */
  torrents: Map<string, Torrent>;
  images(): SeededImage[];
  uploadedBytes(): number;
  /** Seeds what was published in the store since the last scan; returns the images added. */
  rescan(): Promise<SeededImage[]>;
  stop(): Promise<void>;
}

export interface SeederOptions {
  store: string;
  port?: number;
  /** The seeder's share of the lab's links (-1: no limit). */
  uploadLimitBytesPerSec?: number;
  /** The announce URLs (with this seeder's key) for an image; none: peers are added by hand. */
  announce?: (infoHash: string) => string[];
}

export async function startSeeder(opts: SeederOptions): Promise<Seeder> {
  const client = new WebTorrent({
    dht: false, lsd: false, utp: false, natUpnp: false, natPmp: false, tracker: opts.announce ? {} : false, webSeeds: false,
    torrentPort: opts.port ?? 0, uploadLimit: opts.uploadLimitBytesPerSec ?? -1,
  });
  client.on('error', (err: Error) => log.error({ err: err.message }, 'seeding failed'));
  await new Promise<void>((resolve) => client.once('listening', () => resolve()));
  const seeded = new Map<string, SeededImage>();
  const torrents = new Map<string, Torrent>();

  const rescan = async (): Promise<SeededImage[]> => {
    const added: SeededImage[] = [];
    for (const { name, versions } of await listImages(opts.store)) {
      for (const version of versions) {
        if ([...seeded.values()].some((s) => s.name === name && s.version === version)) continue;
        try {
          const { dir, manifest } = await openImage(opts.store, name, version);
          const buf = await readFile(join(dir, TORRENT_FILE));
          const announce = opts.announce?.(manifest.infoHash) ?? [];
          const torrent = await new Promise<Torrent>((resolve) => client.add(buf, { path: join(opts.store, name), skipVerify: true, announce }, resolve));
          torrent.on('warning', (err: Error) => log.debug({ image: name, version, err: err.message }, 'torrent warning'));
          const image = { name, version, infoHash: manifest.infoHash, torrent };
          seeded.set(manifest.infoHash, image);
          torrents.set(manifest.infoHash, torrent);
          added.push(image);
          log.info({ image: name, version, infoHash: manifest.infoHash }, 'seeding');
        } catch (err) {
          log.error({ image: name, version, err: (err as Error).message }, 'cannot seed this image');
        }
      }
    }
    return added;
  };
  await rescan();
  return {
    port: client.torrentPort,
    torrents,
    images: () => [...seeded.values()],
    uploadedBytes: () => [...torrents.values()].reduce((n, t) => n + t.uploaded, 0),
    rescan,
    stop: () => new Promise<void>((resolve) => client.destroy(() => resolve())),
  };
}
