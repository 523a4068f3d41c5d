import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { ShoalError } from '../shared/errors.js';
import { TORRENT_FILE, pieceFileName, torrentPieces, type Manifest } from '../shared/manifest.js';
import { openImage } from '../shared/store.js';
import { describeTorrent, imageChecksum } from '../shared/torrent.js';
import { runPieceJobs } from './deploy.js';
import type { Progress } from './progress.js';

/**
 * Re-reads every piece of a stored image: its SHA-1 against the manifest and the torrent, its header,
 * and its decompressed data against its raw hash. Any mismatch names the piece.
 */
export async function verifyImage(store: string, image: string, opts: { version?: number; progress?: (l: string, t: number) => Progress } = {}): Promise<Manifest> {
  const { dir, manifest } = await openImage(store, image, opts.version);
  const torrentPath = join(dir, TORRENT_FILE);
  const torrent = describeTorrent(await readFile(torrentPath).catch(() => {
    throw new ShoalError(`image ${image}: ${torrentPath} is missing`);
  }));
  if (torrent.infoHash !== manifest.infoHash) throw new ShoalError(`image ${image}: the torrent's infohash ${torrent.infoHash} is not the manifest's ${manifest.infoHash}`);
  const listed = [...torrentPieces(manifest)];
  if (listed.length !== torrent.pieceSha1s.length || listed.some((p, i) => p.piece.sha1 !== torrent.pieceSha1s[i])) {
    throw new ShoalError(`image ${image}: the torrent's piece hashes differ from the manifest's`);
  }
  if (imageChecksum(torrent.pieceSha1s) !== manifest.checksum) throw new ShoalError(`image ${image}: the whole-image checksum does not match`);
  const plans = manifest.disks.map((disk) => ({
    target: { path: '', sizeBytes: Number.MAX_SAFE_INTEGER, logicalSectorBytes: disk.logicalSectorBytes, isBlockDevice: false },
    placements: disk.areas.map((area) => ({ area, placement: { areaId: area.id, diskOffset: 0, limitBytes: area.sizeBytes } })),
  }));
  for (const disk of manifest.disks) {
    for (const area of disk.areas) {
      const file = join(dir, pieceFileName(area));
      const size = await stat(file).then((s) => s.size, () => -1);
      if (size !== area.pieces.length * manifest.pieceLength) throw new ShoalError(`image ${image}: ${file} holds ${size} bytes, expected ${area.pieces.length * manifest.pieceLength}`);
    }
  }
  await runPieceJobs(manifest, dir, plans, opts.progress ?? (() => ({ update() {}, stop() {} })), { checkRaw: true });
  return manifest;
}
