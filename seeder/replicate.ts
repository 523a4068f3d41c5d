/**
 * A storage node fetches an image it lacks by joining that image's swarm, like a PC, but into its
 * store: webtorrent checks every piece's SHA-1 before writing it, into a staging directory that is
 * published (fsync, rename) only when every piece is in and the manifest and torrent agree. A
 * replication cut off leaves staging that the next one sweeps (store.ts), and nothing published.
 */
import { readdir, rename, rmdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Torrent } from 'webtorrent';
import { lanClient } from '../shared/webtorrent/lan-client.js';
import type { ReplicaSource } from '../shared/http/api.js';
import { ShoalError } from '../shared/errors.js';
import { MANIFEST_FILE, TORRENT_FILE, parseManifest, writeManifest } from '../shared/image/manifest.js';
import { seederPeerId } from '../shared/swarm/peer-id.js';
import { createStaging } from '../shared/image/store.js';
import { describeTorrent } from '../shared/image/torrent.js';
import { logger } from '../shared/log.js';
import { knock } from '../shared/swarm/knock.js';

const log = logger('seeder');
const REPLICATION_TIMEOUT_MS = 6 * 3_600_000;

export async function replicateImage(opts: { store: string; source: ReplicaSource; announce: string[]; downloadLimitBytesPerSec?: number }): Promise<string> {
  const { image } = opts.source;
  const torrentBuf = Buffer.from(opts.source.torrent, 'base64');
  const manifest = parseManifest(opts.source.manifest, `the portal's manifest of ${image.name} v${image.version}`);
  if (manifest.infoHash !== image.infoHash || describeTorrent(torrentBuf).infoHash !== image.infoHash) {
    throw new ShoalError(`the portal's manifest and torrent of ${image.name} v${image.version} disagree`);
  }
  const staging = await createStaging(opts.store, image.name, image.version);
  const { client } = lanClient({
    announce: opts.announce.length > 0,
    webSeeds: false,
    peerId: seederPeerId(),
    downloadLimitBytesPerSec: opts.downloadLimitBytesPerSec,
  });
  let timer: NodeJS.Timeout | undefined;
  let dir: string;
  try {
    log.info({ image: image.name, version: image.version, peers: opts.source.peers }, 'replicating');
    try {
      await new Promise<void>((resolve, reject) => {
        timer = setTimeout(() => reject(new ShoalError(`replication of ${image.name} v${image.version} timed out`)), REPLICATION_TIMEOUT_MS);
        client.on('error', (err: Error) => reject(err));
        const t: Torrent = client.add(torrentBuf, { path: staging.dir, announce: opts.announce }, (torrent) => torrent.on('done', () => resolve()));
        t.on('error', (err: Error) => reject(err));
        t.once('infoHash', () => {
          void knock(opts.source.webSeeds, image.version, log).then(() => {
            for (const p of opts.source.peers) t.addPeer(p);
          });
        });
      });
    } finally {
      clearTimeout(timer);
      await new Promise<void>((resolve) => client.destroy(() => resolve()));
    }
    // webtorrent wrote the torrent's layout, STAGING/vN/<area>.pieces: flatten it to the store's.
    const sub = join(staging.dir, `v${image.version}`);
    for (const f of await readdir(sub)) await rename(join(sub, f), join(staging.dir, f));
    await rmdir(sub);
    await writeManifest(join(staging.dir, MANIFEST_FILE), manifest);
    await writeFile(join(staging.dir, TORRENT_FILE), torrentBuf);
    dir = await staging.publish();
  } catch (err) {
    // Nothing half-made stays behind (and a retry does not find a second copy in staging).
    await staging.discard();
    throw err;
  }
  log.info({ image: image.name, version: image.version, dir }, 'replicated');
  return dir;
}
