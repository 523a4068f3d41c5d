/**
 * The pieces of an import that need no disk: sfdisk dumps as FOG and Clonezilla keep them, and
 * partclone streams built here byte by byte from partclone.h's layout (the root tests in
 * import.test.ts read streams the real partclone wrote).
 */
import { suite } from '../suite.js';
import * as assert from 'uvu/assert';
import { crc32 } from 'node:zlib';
import { xxh3, xxh64 } from '@node-rs/xxhash';
import { ByteReader } from '../../client/import/byte-reader.js';
import { readPartcloneBitmap, readPartcloneBlocks, readPartcloneHeader } from '../../client/import/partclone-stream.js';
import { diskBytesOf, parseSfdiskDump } from '../../client/import/sfdisk-dump.js';
import { identifyFilesystem } from '../../client/import/fs-identity.js';

const T = suite('foreign image parts');

const GPT_DUMP = `label: gpt
label-id: 6F0B2A4E-1C3D-4B8A-9E55-0D8E1C2B3A41
device: /dev/sda
unit: sectors
first-lba: 2048
last-lba: 655326
sector-size: 512

/dev/sda1 : start=        2048, size=       81920, type=C12A7328-F81F-11D2-BA4B-00A0C93EC93B, uuid=0A1B2C3D-0000-4000-8000-000000000001, name="EFI system, first"
/dev/sda2 : start=       83968, size=      245760, type=0FC63DAF-8483-4772-8E79-3D69D8477DE4, uuid=0A1B2C3D-0000-4000-8000-000000000002, name="root", attrs="LegacyBIOSBootable"
`;

const MBR_DUMP = `label: dos
label-id: 0x1a2b3c4d
device: /dev/sda
unit: sectors
sector-size: 512

/dev/sda1 : start=        2048, size=      204800, type=83, bootable
/dev/sda2 : start=      206848, size=      401408, type=5
/dev/sda5 : start=      208896, size=      102400, type=83
/dev/sda6 : start=      313344, size=      294912, type=82
`;

T('an sfdisk dump of a GPT disk reads as sfdisk --json would give it, quoted commas and all', () => {
  const t = parseSfdiskDump(GPT_DUMP, 'd1.partitions');
  assert.is(t.kind, 'gpt');
  assert.is(t.id, '6F0B2A4E-1C3D-4B8A-9E55-0D8E1C2B3A41');
  assert.is(t.firstLba, 2048);
  assert.equal(
    t.partitions.map((p) => [p.number, p.startBytes, p.sizeBytes, p.name]),
    [
      [1, 2048 * 512, 81920 * 512, 'EFI system, first'],
      [2, 83968 * 512, 245760 * 512, 'root'],
    ],
  );
  assert.is(t.partitions[1]!.attrs, 'LegacyBIOSBootable');
  assert.is(t.partitions[0]!.type, 'C12A7328-F81F-11D2-BA4B-00A0C93EC93B');
  // The backup table's 33 sectors after the last usable one: the disk the dump came from.
  assert.is(diskBytesOf(t), (655326 + 34) * 512);
});

T('an sfdisk dump of an MBR disk keeps logical numbers, the extended type and the boot flag', () => {
  const t = parseSfdiskDump(MBR_DUMP, 'sda-pt.sf');
  assert.is(t.kind, 'dos');
  assert.is(t.id, '0x1a2b3c4d');
  assert.equal(
    t.partitions.map((p) => [p.number, p.type, p.bootable ?? false]),
    [
      [1, '83', true],
      [2, '5', false],
      [5, '83', false],
      [6, '82', false],
    ],
  );
  assert.is(diskBytesOf(t), (313344 + 294912) * 512);
});

T('a dump that is not one, or lists a partition twice, is refused naming the file and line', () => {
  assert.throws(() => parseSfdiskDump('hello world\n', 'd1.partitions'), /d1\.partitions, line 1/);
  assert.throws(() => parseSfdiskDump('label: sun\n', 'd1.partitions'), /not an sfdisk dump of a GPT or MBR table/);
  assert.throws(() => parseSfdiskDump(`${MBR_DUMP}/dev/sda1 : start=9, size=9, type=83\n`, 'x.sf'), /partition 1 is listed twice/);
});

// partclone's CRC32: zlib's polynomial and seed, never inverted at the end (checksum.c).
const pcCrc = (state: number, data: Buffer): number => ~crc32(data, ~state >>> 0) >>> 0;

type Checksum = 'crc32' | 'xxh64' | 'xxh128';
const MODES: Record<Checksum, [number, number]> = { crc32: [0x20, 4], xxh64: [0x30, 8], xxh128: [0x31, 16] };

/** A group's checksum as partclone stores it: little-endian words, XXH128's low half first (partclone.h's XXH128_hash_t). */
function groupChecksum(kind: Checksum, group: Buffer): Buffer {
  const out = Buffer.alloc(MODES[kind][1]);
  if (kind === 'crc32') out.writeUInt32LE(pcCrc(0xffffffff, group));
  else if (kind === 'xxh64') out.writeBigUInt64LE(xxh64(group, 0n));
  else {
    const v = xxh3.xxh128(group);
    out.writeBigUInt64LE(v & 0xffffffffffffffffn, 0);
    out.writeBigUInt64LE(v >> 64n, 8);
  }
  return out;
}

/**
 * A partclone image 0002 of `blocks` (null: unused), a checksum over each `perCs` blocks,
 * reseeded. (Debian's partclone is built without xxhash: the xxhash images are made here only.)
 */
function v2Image(blocks: Array<Buffer | null>, blockSize: number, perCs: number, checksum: Checksum = 'crc32'): Buffer {
  const used = blocks.filter((b): b is Buffer => b !== null);
  const head = Buffer.alloc(110);
  head.write('partclone-image', 0, 'latin1');
  head.write('0.3.23', 16, 'latin1');
  head.write('0002', 30, 'latin1');
  head.writeUInt16LE(0xc0de, 34);
  head.write('EXTFS', 36, 'latin1');
  head.writeBigUInt64LE(BigInt(blocks.length * blockSize), 52);
  head.writeBigUInt64LE(BigInt(blocks.length), 60);
  head.writeBigUInt64LE(BigInt(used.length), 68);
  head.writeBigUInt64LE(BigInt(used.length), 76);
  head.writeUInt32LE(blockSize, 84);
  head.writeUInt32LE(18, 88);
  head.writeUInt16LE(2, 92);
  head.writeUInt16LE(64, 94);
  head.writeUInt16LE(MODES[checksum][0], 96);
  head.writeUInt16LE(MODES[checksum][1], 98);
  head.writeUInt32LE(perCs, 100);
  head.writeUInt8(1, 104);
  head.writeUInt8(1, 105);
  head.writeUInt32LE(pcCrc(0xffffffff, head.subarray(0, 106)), 106);
  const bitmap = Buffer.alloc(Math.ceil(blocks.length / 8));
  blocks.forEach((b, i) => b && (bitmap[i >> 3]! |= 1 << (i & 7)));
  const bitmapCrc = Buffer.alloc(4);
  bitmapCrc.writeUInt32LE(pcCrc(0xffffffff, bitmap));
  const data: Buffer[] = [];
  for (let i = 0; i < used.length; i += perCs) {
    const group = Buffer.concat(used.slice(i, i + perCs));
    data.push(group, groupChecksum(checksum, group));
  }
  return Buffer.concat([head, bitmap, bitmapCrc, ...data]);
}

async function rejects(run: () => Promise<unknown>, pattern: RegExp): Promise<void> {
  const err = await run().then(
    () => undefined,
    (e: unknown) => e as Error,
  );
  if (!err) assert.unreachable(`expected an error matching ${pattern}`);
  else assert.match(err.message, pattern);
}

async function readAll(image: Buffer, chunk = 7): Promise<Array<[number, string]>> {
  async function* pieces(): AsyncGenerator<Buffer> {
    for (let i = 0; i < image.length; i += chunk) yield image.subarray(i, i + chunk);
  }
  const r = new ByteReader(pieces(), 'd1p2.img');
  const h = await readPartcloneHeader(r);
  const runs = await readPartcloneBitmap(r, h);
  const out: Array<[number, string]> = [];
  await readPartcloneBlocks(r, h, runs, (offset, data) => {
    // The stream's own chunks come out as they are: contiguous ones joined here to compare.
    const last = out[out.length - 1];
    if (last && last[0] + last[1].length === offset) last[1] += data.toString('latin1');
    else out.push([offset, data.toString('latin1')]);
  });
  return out;
}

const block = (c: string): Buffer => Buffer.alloc(512, c);

T('a partclone 0002 stream gives its used blocks at their offsets, contiguous ones together, checksums checked', async () => {
  const img = v2Image([block('a'), block('b'), null, null, block('c'), null, block('d'), block('e')], 512, 2);
  const got = await readAll(img);
  assert.equal(
    got.map(([o, d]) => [o, d.length, d[0]]),
    [
      [0, 1024, 'a'],
      [2048, 512, 'c'],
      [3072, 1024, 'd'],
    ],
  );
  assert.is(got[2]![1], 'd'.repeat(512) + 'e'.repeat(512));
});

T('a flipped byte in a block, the header or the bitmap, or a cut stream, is an error naming the file', async () => {
  const img = v2Image([block('a'), block('b'), block('c')], 512, 2);
  const flip = (at: number): Buffer => {
    const b = Buffer.from(img);
    b[at] = b[at]! ^ 0x40;
    return b;
  };
  await rejects(() => readAll(flip(img.length - 100)), /d1p2\.img: blocks 3–3 of 3 fail their checksum/);
  await rejects(() => readAll(flip(60)), /d1p2\.img: partclone header fails its checksum/);
  await rejects(() => readAll(flip(110)), /d1p2\.img: partclone's bitmap fails its checksum/);
  await rejects(() => readAll(img.subarray(0, img.length - 300)), /d1p2\.img: the stream ends at byte \d+, in block 3 of 3 \(truncated\?\)/);
  await rejects(() => readAll(Buffer.concat([img, Buffer.from('x')])), /1 bytes follow the last block/);
  await rejects(() => readAll(Buffer.from('not a partclone image at all, no'.repeat(8))), /not a partclone image/);
});

T("xxhash checksums (partclone -a2, -a3: Clonezilla's default since April 2026) are checked as partclone stores them", async () => {
  // The library against xxhsum's published vectors, so the check below rests on the real hash.
  assert.is(xxh3.xxh128(Buffer.from('abc')).toString(16).padStart(32, '0'), '06b05ab6733a618578af5f94892f3950');
  assert.is(xxh64(Buffer.from('abc'), 0n).toString(16), '44bc2cf5ad770999');
  for (const kind of ['xxh64', 'xxh128'] as const) {
    const img = v2Image([block('a'), block('b'), null, block('c')], 512, 2, kind);
    assert.equal(
      (await readAll(img)).map(([o, d]) => [o, d.length]),
      [
        [0, 1024],
        [1536, 512],
      ],
      kind,
    );
    const bad = Buffer.from(img);
    bad[bad.length - 40] = bad[bad.length - 40]! ^ 1;
    await rejects(() => readAll(bad), /fail their checksum/);
  }
});

T('partclone names only the family: ext2, ext3 and ext4 are told apart by their superblock', () => {
  const sb = (compat: number, incompat: number): Buffer => {
    const b = Buffer.alloc(4096);
    b.writeUInt16LE(0xef53, 1024 + 56);
    b.writeUInt32LE(compat, 1024 + 92);
    b.writeUInt32LE(incompat, 1024 + 96);
    b.write('root', 1024 + 120, 'latin1');
    return b;
  };
  assert.is(identifyFilesystem('EXTFS', sb(0, 0)).filesystem, 'ext2');
  assert.is(identifyFilesystem('EXTFS', sb(0x4, 0)).filesystem, 'ext3');
  assert.is(identifyFilesystem('EXTFS', sb(0x4, 0x40 | 0x200)).filesystem, 'ext4');
  assert.is(identifyFilesystem('EXTFS', sb(0x4, 0x40)).label, 'root');
  assert.is(identifyFilesystem('FAT32', Buffer.alloc(512)).filesystem, 'vfat');
  assert.is(identifyFilesystem('REISERFS', Buffer.alloc(512)).filesystem, 'raw');
});

T.run();
