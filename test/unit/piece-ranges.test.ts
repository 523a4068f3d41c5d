import { test } from '../suite.js';
import * as assert from 'uvu/assert';
import bencode from 'bencode';
import { buildTorrent } from '../../shared/image/torrent.js';
import { pieceRanges, torrentLayout, webSeedFileUrl, type TorrentLayout } from '../../shared/image/piece-ranges.js';

const PIECE = 64 * 1024;
const sha = (i: number) => i.toString(16).padStart(40, '0');

test('a Shoal torrent: each area file is whole pieces, so a piece is one range of one file', () => {
  const files = [
    { path: '/s/d0head.pieces', length: 2 * PIECE },
    { path: '/s/d0p1.pieces', length: 3 * PIECE },
  ];
  const layout = torrentLayout(
    buildTorrent(
      files,
      'v7',
      PIECE,
      Array.from({ length: 5 }, (_, i) => sha(i)),
    ).torrent,
  );
  assert.equal(
    layout.files.map((f) => [f.path, f.offset]),
    [
      ['d0head.pieces', 0],
      ['d0p1.pieces', 2 * PIECE],
    ],
  );
  assert.equal(pieceRanges(layout, 0), [{ path: 'd0head.pieces', start: 0, end: PIECE - 1 }]);
  assert.equal(pieceRanges(layout, 2), [{ path: 'd0p1.pieces', start: 0, end: PIECE - 1 }]);
  assert.equal(pieceRanges(layout, 4), [{ path: 'd0p1.pieces', start: 2 * PIECE, end: 3 * PIECE - 1 }]);
  assert.is(webSeedFileUrl('http://n:8081/images/lab/', layout, 'd0p1.pieces'), 'http://n:8081/images/lab/v7/d0p1.pieces');
});

test('a piece spanning files, and a short last piece, as any BitTorrent web seed has them', () => {
  const layout: TorrentLayout = {
    name: 'x',
    pieceLength: 100,
    pieceCount: 3,
    files: [
      { path: 'a', length: 150, offset: 0 },
      { path: 'b', length: 0, offset: 150 },
      { path: 'c d', length: 100, offset: 150 },
    ],
  };
  assert.equal(pieceRanges(layout, 1), [
    { path: 'a', start: 100, end: 149 },
    { path: 'c d', start: 0, end: 49 },
  ]);
  assert.equal(pieceRanges(layout, 2), [{ path: 'c d', start: 50, end: 99 }]);
  assert.is(webSeedFileUrl('http://n/images/x', layout, 'c d'), 'http://n/images/x/x/c%20d');
  assert.throws(() => pieceRanges(layout, 3), /piece 3 is not in the torrent \(3 pieces\)/);
  assert.throws(() => pieceRanges(layout, -1), /not in the torrent/);
});

test('a torrent whose piece count does not match its files, or with a path that climbs, is refused', () => {
  const info = { name: 'v1', 'piece length': PIECE, pieces: Buffer.alloc(40), files: [{ length: 3 * PIECE, path: [Buffer.from('d0p1.pieces')] }] };
  assert.throws(() => torrentLayout(Buffer.from(bencode.encode({ info }))), /lists 2 pieces for 196608 bytes/);
  const climbing = { ...info, files: [{ length: 2 * PIECE, path: [Buffer.from('..'), Buffer.from('etc')] }] };
  assert.throws(() => torrentLayout(Buffer.from(bencode.encode({ info: climbing }))), /is not plain/);
  assert.throws(() => torrentLayout(Buffer.from(bencode.encode({ nothing: 1 }))), /no info dictionary/);
});

test.run();
