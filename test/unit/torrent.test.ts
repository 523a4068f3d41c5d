import { test } from '../suite.js';
import * as assert from 'uvu/assert';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import createTorrent from 'create-torrent';
import { buildTorrent, describeTorrent, imageChecksum, type MadeTorrent } from '../../shared/image/torrent.js';

/** create-torrent's own private torrent of the files, no trackers: the reference for buildTorrent. */
function makeTorrent(files: string[], name: string, pieceLength: number): Promise<MadeTorrent> {
  return new Promise((resolve, reject) => {
    createTorrent(files, { name, pieceLength, private: true, announceList: [], createdBy: 'Shoal', comment: 'Shoal disk image' }, (err, t) =>
      err ? reject(err) : resolve(describeTorrent(Buffer.from(t))),
    );
  });
}

const PIECE = 64 * 1024;

function hashes(bufs: Buffer[]): string[] {
  const all = Buffer.concat(bufs);
  const out: string[] = [];
  for (let i = 0; i < all.length; i += PIECE)
    out.push(
      createHash('sha1')
        .update(all.subarray(i, i + PIECE))
        .digest('hex'),
    );
  return out;
}

for (const count of [2, 3]) {
  test(`our torrent of ${count} piece file(s) has create-torrent's infohash`, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'shoal-torrent-'));
    try {
      const bufs = Array.from({ length: count }, (_, i) => randomBytes(PIECE * (i + 2)));
      const files = bufs.map((b, i) => {
        const path = join(dir, `d0p${i + 1}.pieces`);
        writeFileSync(path, b);
        return { path, length: b.length };
      });
      const theirs = await makeTorrent(
        files.map((f) => f.path),
        'img-v1',
        PIECE,
      );
      const ours = buildTorrent(files, 'img-v1', PIECE, hashes(bufs));
      assert.is(ours.infoHash, theirs.infoHash);
      assert.equal(ours.pieceSha1s, theirs.pieceSha1s);
      assert.is(imageChecksum(ours.pieceSha1s).length, 64);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
}

test.run();
