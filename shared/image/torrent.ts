import { createHash } from 'node:crypto';
import { basename } from 'node:path';
import bencode from 'bencode';
import { ShoalError } from '../errors.js';

export interface MadeTorrent {
  torrent: Buffer;
  infoHash: string;
  pieceSha1s: string[];
}

/**
 * The same torrent create-torrent makes of these files (the same info dictionary, so the same
 * infohash: test/unit/torrent.test.ts checks it), built from piece hashes the capture workers have
 * already computed. (For a lone file create-torrent makes the single-file form; we do not.) create-torrent re-reads and re-hashes every file in one thread: 3.7 s of a
 * 13.3 s capture of 1 GiB here, for hashes we already hold.
 */
export function buildTorrent(files: Array<{ path: string; length: number }>, name: string, pieceLength: number, pieceSha1s: string[]): MadeTorrent {
  const info: Record<string, unknown> = {
    name,
    private: 1,
    'piece length': pieceLength,
    pieces: Buffer.concat(pieceSha1s.map((h) => Buffer.from(h, 'hex'))),
  };
  // Always the multi-file form, even for one piece file: a torrent named "vN" holding
  // "vN/<area>.pieces" is exactly the store's layout, so a seeder can seed STORE/NAME as it is.
  info.files = files.map((f) => ({ length: f.length, path: [basename(f.path)] }));
  const torrent = { info, 'creation date': Math.ceil(Date.now() / 1000), encoding: 'UTF-8', comment: 'Shoal disk image', 'created by': 'Shoal' };
  return describeTorrent(Buffer.from(bencode.encode(torrent)));
}

export function describeTorrent(torrent: Buffer): MadeTorrent {
  const decoded = bencode.decode(torrent) as { info?: { pieces?: Uint8Array } };
  if (!decoded.info?.pieces) throw new ShoalError('torrent has no info dictionary');
  const infoHash = createHash('sha1').update(bencode.encode(decoded.info)).digest('hex');
  const pieces = Buffer.from(decoded.info.pieces);
  const pieceSha1s: string[] = [];
  for (let i = 0; i < pieces.length; i += 20) pieceSha1s.push(pieces.subarray(i, i + 20).toString('hex'));
  return { torrent, infoHash, pieceSha1s };
}

/** The image's checksum: sha256 over every piece's SHA-1, in torrent order. */
export function imageChecksum(pieceSha1s: string[]): string {
  const h = createHash('sha256');
  for (const s of pieceSha1s) h.update(Buffer.from(s, 'hex'));
  return h.digest('hex');
}

/**
 * webtorrent's `uploads` (unchoke slots) for Shoal's swarms: every interested peer. Its default of
 * 10 is BitTorrent's tit-for-tat among strangers; in a lab every PC serves the group, and a seeder
 * or PC that chokes all but 10 of its peers leaves the choked ones unable to fetch what only it
 * holds (measured: a seeder idle for 20 s while 19 of 86 pieces were in no PC, its 10 slots taken
 * by PCs that had their share already). The upload limit still splits the link among them.
 */
export const UNCHOKE_ALL = Number.MAX_SAFE_INTEGER;
