import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ShoalError } from '../../shared/errors.js';
import { TORRENT_FILE, torrentPieces, type Manifest } from '../../shared/image/manifest.js';
import { openImage } from '../../shared/image/store.js';
import { describeTorrent, imageChecksum } from '../../shared/image/torrent.js';
import { assertPieceFiles, inStore, runPieceJobs } from '../piece-workers/piece-jobs.js';
import { silentProgress, type Progress } from '../console/progress.js';

/**
 * Re-reads every piece of a stored image: its SHA-1 against the manifest and the torrent, its header,
 * and its decompressed data against its raw hash. Any mismatch names the piece.
 */
export async function verifyImage(
  store: string,
  image: string,
  opts: { version?: number; progress?: (l: string, t: number) => Progress } = {},
): Promise<Manifest> {
  const { dir, manifest } = await openImage(store, image, opts.version);
  const torrentPath = join(dir, TORRENT_FILE);
  const torrent = describeTorrent(
    await readFile(torrentPath).catch(() => {
      throw new ShoalError(`image ${image}: ${torrentPath} is missing`);
    }),
  );
  if (torrent.infoHash !== manifest.infoHash)
    throw new ShoalError(`image ${image}: the torrent's infohash ${torrent.infoHash} is not the manifest's ${manifest.infoHash}`);
  const listed = [...torrentPieces(manifest)];
  if (listed.length !== torrent.pieceSha1s.length || listed.some((p, i) => p.piece.sha1 !== torrent.pieceSha1s[i])) {
    throw new ShoalError(`image ${image}: the torrent's piece hashes differ from the manifest's`);
  }
  if (imageChecksum(torrent.pieceSha1s) !== manifest.checksum) throw new ShoalError(`image ${image}: the whole-image checksum does not match`);
  await assertPieceFiles(manifest, dir);
  await runPieceJobs(manifest, dir, inStore(manifest.disks.flatMap((d) => d.areas)), opts.progress ?? silentProgress, { checkRaw: true });
  return manifest;
}
