import { test } from '../suite.js';
import * as assert from 'uvu/assert';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync, openSync, writeSync, closeSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { piecesOnDisk } from '../../client/deploy/resume.js';
import { RUN_DATA, RUN_ZERO, type Run } from '../../shared/image/manifest.js';
import type { PieceTarget } from '../../client/deploy/piece-writer.js';

const KIB = 1024;
const AREA_AT = 64 * KIB; // the area starts here on the disk file, as a partition would
const PIECES = 40;

/**
 * A disk file holding an area of PIECES pieces: each covers 32 KiB of data and 16 KiB that must
 * read as zeros. Returns the file and the pieces as the deploy targets name them.
 */
function makeDisk(dir: string): { path: string; pieces: PieceTarget[]; area: Buffer } {
  const area = Buffer.alloc(PIECES * 48 * KIB);
  const pieces: PieceTarget[] = [];
  for (let i = 0; i < PIECES; i++) {
    const data = randomBytes(32 * KIB);
    data.copy(area, i * 48 * KIB);
    const runs: Run[] = [
      [i * 48 * KIB, 32 * KIB, RUN_DATA],
      [i * 48 * KIB + 32 * KIB, 16 * KIB, RUN_ZERO],
    ];
    pieces.push({
      ref: { imageId: 'img', index: i, entry: { sha1: '0'.repeat(40), rawSha256: createHash('sha256').update(data).digest('hex'), runs } },
      place: { areaId: 'p1', diskOffset: AREA_AT, sizeBytes: area.length },
      diskPath: join(dir, 'disk.img'),
      diskBytes: AREA_AT + area.length,
    } as unknown as PieceTarget);
  }
  const path = join(dir, 'disk.img');
  writeFileSync(path, Buffer.concat([Buffer.alloc(AREA_AT), area]));
  return { path, pieces, area };
}

const poke = (path: string, at: number, bytes: Buffer): void => {
  const fd = openSync(path, 'r+');
  try {
    writeSync(fd, bytes, 0, bytes.length, at);
  } finally {
    closeSync(fd);
  }
};

let dir = '';
test.before.each(() => void (dir = mkdtempSync(join(tmpdir(), 'shoal-resume-'))));
test.after.each(() => rmSync(dir, { recursive: true, force: true }));

test('a disk holding the image: every piece is found', () => {
  const { pieces } = makeDisk(dir);
  assert.equal(
    piecesOnDisk(pieces),
    pieces.map(() => true),
  );
});

test('a disk used since: a changed data byte and a non-zero byte where zeros belong each lose their piece', () => {
  const { path, pieces } = makeDisk(dir);
  poke(path, AREA_AT + 5 * 48 * KIB + 100, Buffer.from([0xff ^ 0x5a]));
  poke(path, AREA_AT + 33 * 48 * KIB + 40 * KIB, Buffer.from([1]));
  const want = pieces.map((_, i) => i !== 5 && i !== 33);
  // The poke at piece 5 could by chance write the byte already there; then piece 5 stays.
  const held = piecesOnDisk(pieces);
  assert.equal(
    held.filter((h, i) => i !== 5),
    want.filter((_, i) => i !== 5),
  );
});

test('a blank disk holds nothing, and a disk cut short holds only what lies inside it', () => {
  const { path, pieces } = makeDisk(dir);
  writeFileSync(path, Buffer.alloc(AREA_AT + PIECES * 48 * KIB));
  assert.equal(
    piecesOnDisk(pieces),
    pieces.map(() => false),
  );
  const whole = makeDisk(dir);
  const cut = Buffer.concat([Buffer.alloc(AREA_AT), whole.area.subarray(0, 20 * 48 * KIB + 10 * KIB)]);
  writeFileSync(whole.path, cut);
  assert.equal(
    piecesOnDisk(whole.pieces),
    whole.pieces.map((_, i) => i < 20),
  );
});

test('bytes a deploy rewrites after the pieces do not lose their piece, and other changes there still do', () => {
  const { path, pieces, area } = makeDisk(dir);
  const at = AREA_AT + 12 * 48 * KIB + 0x1c;
  const image = Buffer.from(area.subarray(12 * 48 * KIB + 0x1c, 12 * 48 * KIB + 0x20));
  poke(path, at, Buffer.from([0x00, 0x08, 0x00, 0x00]));
  const rewritten = [{ diskPath: path, diskOffset: at, imageValues: [image, Buffer.alloc(4)] }];
  assert.equal(
    piecesOnDisk(pieces, rewritten),
    pieces.map(() => true),
  );
  assert.equal(piecesOnDisk(pieces)[12], false, 'without knowing the rewrite, the piece differs');
  poke(path, at + 8, Buffer.from([~area[12 * 48 * KIB + 0x24]! & 0xff]));
  assert.equal(piecesOnDisk(pieces, rewritten)[12], false, 'a change beside the rewritten bytes is still seen');
});

test.run();
