import { test } from '../suite.js';
import * as assert from 'uvu/assert';
import { randomUUID } from 'node:crypto';
import { parseManifest, type Manifest } from '../../shared/image/manifest.js';
import { assertImageName } from '../../shared/image/image-name.js';

const MiB = 1024 * 1024;
const valid = (): Manifest => ({
  format: 'shoal-image/1',
  imageId: randomUUID(),
  name: 'lab',
  version: 1,
  type: 'multipart',
  createdAt: new Date().toISOString(),
  source: { host: 'pc', disks: ['/dev/sda'] },
  pieceLength: 4 * MiB,
  zstdLevel: 6,
  infoHash: 'a'.repeat(40),
  checksum: 'b'.repeat(64),
  rawBytes: 10,
  storedBytes: 4 * MiB,
  disks: [
    {
      index: 0,
      sizeBytes: 100 * MiB,
      logicalSectorBytes: 512,
      table: { kind: 'gpt', firstLba: 34 },
      partitions: [
        { number: 1, startBytes: MiB, sizeBytes: 50 * MiB, type: 'x', filesystem: 'ext4', fsSizeBytes: 50 * MiB, minSizeBytes: 50 * MiB, resizable: false },
      ],
      areas: [
        {
          id: 'd0p1',
          kind: 'partition',
          partitionNumber: 1,
          sizeBytes: 50 * MiB,
          pieces: [{ sha1: 'c'.repeat(40), rawSha256: 'd'.repeat(64), runs: [[0, 4096, 0]] }],
        },
      ],
    },
  ],
});

test('a valid manifest parses', () => {
  assert.is(parseManifest(valid(), 'm').name, 'lab');
});

test('a missing key, a wrong type and a bad piece length are named', () => {
  const m = valid() as unknown as Record<string, unknown>;
  delete m.infoHash;
  assert.throws(() => parseManifest(m, 'm.json'), /m\.json: manifest fails its schema at infoHash/);
  assert.throws(() => parseManifest({ ...valid(), pieceLength: 3000 }, 'm'), /pieceLength: a power of two/);
  assert.throws(() => parseManifest({ ...valid(), type: 'zip' }, 'm'), /at type/);
});

test('runs past their area and partitions past their disk are refused', () => {
  const m = valid();
  m.disks[0]!.areas[0]!.pieces[0]!.runs = [[50 * MiB - 100, 4096, 0]];
  assert.throws(() => parseManifest(m, 'm'), /piece 0 of d0p1 has a run at .* past the area's/);
  const n = valid();
  n.disks[0]!.partitions[0]!.startBytes = 90 * MiB;
  assert.throws(() => parseManifest(n, 'm'), /partition 1 of disk 0 ends past the disk's end/);
  const o = valid();
  o.disks[0]!.areas[0]!.partitionNumber = 7;
  assert.throws(() => parseManifest(o, 'm'), /names partition 7, which the table lacks/);
});

test('image names cannot climb out of the store', () => {
  for (const bad of ['../x', 'a/b', '..', '.hidden', 'a\\b', '', 'x..y']) assert.throws(() => assertImageName(bad), /invalid image name/);
  for (const good of ['win11-lab', 'ubuntu_24.04', 'A1']) assert.is(assertImageName(good), good);
});

test.run();
