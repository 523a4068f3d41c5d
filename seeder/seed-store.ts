/**
 * Seeds the published images of a store with webtorrent, straight from the piece files: the
 * torrent of STORE/NAME/vN is named "vN", so STORE/NAME is its content as it lies. The capture
 * verified every piece before publishing, so nothing is re-hashed at start (skipVerify).
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import WebTorrent, { type Torrent } from 'webtorrent';
import { TORRENT_FILE } from '../shared/manifest.js';
import { listImages, openImage } from '../shared/store.js';

export interface Seeder {
  port: number;
  /** infohash → torrent */
  torrents: Map<string, Torrent>;
  uploadedBytes(): number;
  stop(): Promise<void>;
}

/** uploadLimitBytesPerSec: the seeder's share of the lab's links (-1: no limit). */
export async function startSeeder(opts: { store: string; port?: number; uploadLimitBytesPerSec?: number }): Promise<Seeder> {
  const client = new WebTorrent({
    dht: false, lsd: false, utp: false, tracker: false, webSeeds: false, torrentPort: opts.port ?? 0, uploadLimit: opts.uploadLimitBytesPerSec ?? -1,
  });
  await new Promise<void>((resolve) => client.once('listening', () => resolve()));
  const torrents = new Map<string, Torrent>();
  for (const { name, versions } of await listImages(opts.store)) {
    for (const version of versions) {
      const { dir, manifest } = await openImage(opts.store, name, version);
      const buf = await readFile(join(dir, TORRENT_FILE));
      const t = await new Promise<Torrent>((resolve) => client.add(buf, { path: join(opts.store, name), skipVerify: true }, resolve));
      torrents.set(manifest.infoHash, t);
    }
  }
  return {
    port: client.torrentPort,
    torrents,
    uploadedBytes: () => [...torrents.values()].reduce((n, t) => n + t.uploaded, 0),
    stop: () => new Promise<void>((resolve) => client.destroy(() => resolve())),
  };
}
