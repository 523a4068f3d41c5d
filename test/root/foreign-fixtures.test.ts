/**
 * The FOG and Clonezilla fixtures themselves (test/root/foreign-images.ts): each folder is laid out
 * as the project lays it out, its streams carry the partclone options the project passes, and the
 * project's own restore of it gives back every file. If these fail, the import tests prove nothing.
 */
import { suite } from '../suite.js';
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';
import { blankDisk, cleanup, MiB, tableOf, workDir, type FixtureDisk } from './fixtures.js';
import {
  assertForeignDeployed,
  clonezillaRestore,
  fogRestore,
  foreignGptDisk,
  gptIdentity,
  makeClonezillaImage,
  makeFogImage,
  markGrub,
  mbrLogicalDisk,
  readRange,
  type ForeignImage,
} from './foreign-images.js';

interface Ctx {
  dir: string;
  gpt: FixtureDisk;
  mbr: FixtureDisk;
  gptGap: Buffer;
}
const T = suite<Ctx>('FOG and Clonezilla fixtures');

T.before((ctx) => {
  ctx.dir = workDir();
  ctx.gpt = foreignGptDisk(ctx.dir, 4);
  ctx.gptGap = markGrub(ctx.gpt);
  ctx.mbr = mbrLogicalDisk(ctx.dir, 4);
});
T.after(() => cleanup());

const names = (image: ForeignImage): string[] => readdirSync(image.folder).sort();

/** The first bytes of a stream, decompressed: its partclone header. */
function header(image: ForeignImage, number: number): Buffer {
  const files = image.streams.get(number)!;
  const dec = { zstd: 'zstd -dcq', gzip: 'pigz -dc', lz4: 'lz4 -dcq', bzip2: 'bzip2 -dc', xz: 'xz -dc', none: 'cat' }[image.codec];
  return execFileSync('bash', ['-c', `cat ${files.map((f) => `'${f}'`).join(' ')} | ${dec} | head -c 4160`], { maxBuffer: 8 * MiB });
}
const checksumMode = (h: Buffer): number => h.readUInt16LE(96);
const blocksPerChecksum = (h: Buffer): number => h.readUInt32LE(100);
const blockSize = (h: Buffer): number => h.readUInt32LE(84);

function restoreAndCheck(ctx: Ctx, src: FixtureDisk, image: ForeignImage, opts: { swapLabel: boolean }): string {
  const target = blankDisk(join(ctx.dir, `${basename(image.folder)}-target.img`), statSync(src.path).size);
  if (image.kind === 'fog') fogRestore(image, target);
  else clonezillaRestore(image, target);
  assertForeignDeployed(src, target, ctx.dir, opts);
  return target;
}

T('FOG multipart, GPT, zstd split: the folder, the options, and FOG’s restore', (ctx) => {
  const image = makeFogImage(ctx.gpt, ctx.dir, 'fog-gpt', { splitBytes: MiB });
  const files = names(image);
  for (const f of ['d1.mbr', 'd1.partitions', 'd1.grub.mbr', 'd1.original.swapuuids', 'd1p1.img', 'd1p2.img', 'd1p3.img', 'd1p4.img'])
    assert.ok(files.includes(f), `${f} in ${files.join(', ')}`);
  // A split stream: the first piece renamed from .000 to the bare name, then .001, .002 …
  const p2 = image.streams.get(2)!.map((f) => basename(f));
  assert.ok(p2.length >= 2, `d1p2 split into ${p2.join(', ')}`);
  assert.equal(p2.slice(0, 2), ['d1p2.img', 'd1p2.img.001']);
  assert.not.ok(files.some((f) => f.endsWith('.000')));
  for (const f of image.streams.get(2)!.slice(0, -1)) assert.is(statSync(f).size, MiB);
  // d1.mbr is sgdisk's backup (17 920 bytes, "EFI PART" at 512); d1.grub.mbr the sectors before partition 1.
  const mbr = readFileSync(join(image.folder, 'd1.mbr'));
  assert.is(mbr.length, 17920);
  assert.is(mbr.subarray(512, 520).toString('latin1'), 'EFI PART');
  assert.is(statSync(join(image.folder, 'd1.grub.mbr')).size, 2048 * 512);
  assert.ok(readFileSync(join(image.folder, 'd1.partitions'), 'utf8').includes('/dev/sda2 : start='));
  const swap = ctx.gpt.parts.find((p) => p.fs === 'swap')!;
  assert.match(readFileSync(join(image.folder, 'd1.original.swapuuids'), 'utf8'), new RegExp(`^${swap.number} [0-9a-f-]{36}\\n$`));
  // partclone -a0: no checksums; partclone.imager (the raw partition 4) keeps CRC32 every 2048 sectors.
  assert.is(readFileSync(image.streams.get(1)![0]!).readUInt32LE(0), 0xfd2fb528, 'zstd');
  assert.is(checksumMode(header(image, 2)), 0);
  assert.is(header(image, 2).subarray(36, 41).toString('latin1'), 'EXTFS');
  assert.is(header(image, 1).subarray(36, 39).toString('latin1'), 'FAT');
  const raw = header(image, 4);
  assert.is(raw.subarray(36, 39).toString('latin1'), 'raw');
  assert.is(checksumMode(raw), 0x20);
  assert.is(blocksPerChecksum(raw), 2048);
  const target = restoreAndCheck(ctx, ctx.gpt, image, { swapLabel: false });
  assert.equal(gptIdentity(target), gptIdentity(ctx.gpt.path));
  assert.ok(readRange(target, 34 * 512, ctx.gptGap.length).equals(ctx.gptGap), 'GRUB gap');
});

T('FOG multipart, MBR with logical partitions, gzip (pigz): d1.mbr is the first MiB, EBRs kept', (ctx) => {
  const image = makeFogImage(ctx.mbr, ctx.dir, 'fog-mbr', { codec: 'gzip' });
  const files = names(image);
  for (const f of ['d1.mbr', 'd1.partitions', 'd1p1.img', 'd1p2.ebr', 'd1p5.img', 'd1p5.ebr', 'd1p6.ebr', 'd1.original.swapuuids'])
    assert.ok(files.includes(f), `${f} in ${files.join(', ')}`);
  assert.not.ok(files.includes('d1p2.img'), 'no stream for the extended partition');
  assert.is(statSync(join(image.folder, 'd1.mbr')).size, MiB);
  assert.ok(readFileSync(join(image.folder, 'd1.mbr')).equals(readRange(ctx.mbr.path, 0, MiB)));
  assert.is(statSync(join(image.folder, 'd1p2.ebr')).size, 512);
  assert.is(readFileSync(image.streams.get(1)![0]!).readUInt16BE(0), 0x1f8b, 'gzip');
  const target = restoreAndCheck(ctx, ctx.mbr, image, { swapLabel: false });
  const layout = (path: string) => tableOf(path).partitions!.map((x) => ({ ...x, node: /(\d+)$/.exec(x.node)![1] }));
  assert.equal(layout(target), layout(ctx.mbr.path));
});

T('FOG uncompressed and lz4 (legacy frame) streams restore', (ctx) => {
  const none = makeFogImage(ctx.mbr, ctx.dir, 'fog-none', { codec: 'none' });
  assert.is(readFileSync(none.streams.get(1)![0]!).subarray(0, 15).toString('latin1'), 'partclone-image');
  restoreAndCheck(ctx, ctx.mbr, none, { swapLabel: false });
  const lz4 = makeFogImage(ctx.mbr, ctx.dir, 'fog-lz4', { codec: 'lz4' });
  assert.is(readFileSync(lz4.streams.get(1)![0]!).readUInt32LE(0), 0x184c2102, 'lz4 legacy frame');
  restoreAndCheck(ctx, ctx.mbr, lz4, { swapLabel: false });
});

T('FOG partclone v1 streams (the test double): real partclone.restore checks their v1 checksums', (ctx) => {
  const image = makeFogImage(ctx.mbr, ctx.dir, 'fog-v1', { codec: 'gzip', partcloneV1: true });
  const h = header(image, 1);
  assert.is(h.subarray(30, 34).toString('latin1'), '0001');
  // Restored without --ignore_crc: partclone verifies every block's CRC32_0001 as FOG 1.2's did.
  const target = blankDisk(join(ctx.dir, 'fog-v1-crc.img'), statSync(ctx.mbr.path).size);
  execFileSync('sfdisk', ['--quiet', target], { input: readFileSync(join(image.folder, 'd1.partitions')) });
  const p = tableOf(target).partitions!.find((x) => x.node.endsWith('1'))!;
  const dev = execFileSync('losetup', ['--find', '--show', '--offset', String(p.start * 512), '--sizelimit', String(p.size * 512), target], {
    encoding: 'utf8',
  }).trim();
  try {
    execFileSync('bash', ['-o', 'pipefail', '-c', `cat ${image.streams.get(1)!.join(' ')} | pigz -dc | partclone.restore -s - -o ${dev}`], { stdio: 'pipe' });
  } finally {
    execFileSync('losetup', ['--detach', dev]);
  }
  restoreAndCheck(ctx, ctx.mbr, image, { swapLabel: false });
});

T('FOG raw (dd type): partclone.imager of the whole disk in <name>.000, restored bit for bit', (ctx) => {
  const image = makeFogImage(ctx.mbr, ctx.dir, 'fog-raw', { type: 'raw', splitBytes: MiB });
  const files = names(image);
  assert.equal(files.slice(0, 2), ['fog-raw.000', 'fog-raw.001']);
  assert.not.ok(files.some((f) => f.startsWith('d1')));
  const h = header(image, 0);
  assert.is(h.subarray(36, 39).toString('latin1'), 'raw');
  assert.is(blockSize(h), 512);
  assert.is(checksumMode(h), 0);
  const target = blankDisk(join(ctx.dir, 'fog-raw-target.img'), statSync(ctx.mbr.path).size);
  fogRestore(image, target);
  assert.ok(readFileSync(target).equals(readFileSync(ctx.mbr.path)), 'bit for bit');
});

T('FOG resizable, GPT: shrunk ext4 in the stream, fixed list, fstypes, minimum table moved down', (ctx) => {
  const image = makeFogImage(ctx.gpt, ctx.dir, 'fog-resize', { type: 'resizable' });
  const read = (f: string): string => readFileSync(join(image.folder, f), 'utf8');
  // FAT, the raw partition and swap are fixed; the NTFS is too small to leave 500 MiB of slack.
  assert.is(read('d1.fixed_size_partitions'), '1:4:5:3\n');
  assert.is(read('d1.original.fstypes'), '/dev/sda2 extfs\n/dev/sda3 ntfs\n');
  assert.is(read('d1.original.swapuuids').split('\n')[0]!.split(' ')[0], '5');
  assert.ok(names(image).includes('d1.shrunken.partitions'));
  const size = (dump: string, n: number): number => Number(new RegExp(`/dev/sda${n} : start=\\s*\\d+, size=\\s*(\\d+)`).exec(dump)![1]);
  const start = (dump: string, n: number): number => Number(new RegExp(`/dev/sda${n} : start=\\s*(\\d+)`).exec(dump)![1]);
  assert.ok(size(read('d1.minimum.partitions'), 2) < size(read('d1.partitions'), 2) / 2, 'ext4 partition shrunk');
  assert.ok(start(read('d1.minimum.partitions'), 3) < start(read('d1.partitions'), 3), 'NTFS partition moved down');
  assert.is(start(read('d1.minimum.partitions'), 3) % 512, 0);
  const h = header(image, 2);
  assert.ok(Number(h.readBigUInt64LE(52)) < (72 * MiB) / 2, 'the stream holds the shrunk filesystem');
  // The source disk itself is untouched (the shrink ran on a copy).
  assert.is(tableOf(ctx.gpt.path).partitions![1]!.size * 512, 72 * MiB);
  restoreAndCheck(ctx, ctx.gpt, image, { swapLabel: false });
});

T('Clonezilla savedisk, GPT, zstd split at 1 MB: the folder, partclone -z 10485760, and its restore', (ctx) => {
  const image = makeClonezillaImage(ctx.gpt, ctx.dir, 'cz-gpt', { splitMB: 1 });
  const files = names(image);
  for (const f of [
    'disk',
    'parts',
    'sda-pt.sf',
    'sda-pt.parted',
    'sda-mbr',
    'sda-gpt-1st',
    'sda-gpt-2nd',
    'sda-gpt.gdisk',
    'swappt-sda5.info',
    'sda1.vfat-ptcl-img.zst.aa',
    'sda2.ext4-ptcl-img.zst.aa',
    'sda2.ext4-ptcl-img.zst.ab',
    'sda3.ntfs-ptcl-img.zst.aa',
    'sda4.dd-ptcl-img.zst.aa',
  ])
    assert.ok(files.includes(f), `${f} in ${files.join(', ')}`);
  assert.is(readFileSync(join(image.folder, 'disk'), 'utf8'), 'sda\n');
  assert.is(readFileSync(join(image.folder, 'parts'), 'utf8'), 'sda1 sda2 sda3 sda4\n');
  assert.match(readFileSync(join(image.folder, 'swappt-sda5.info'), 'utf8'), /^UUID="[0-9a-f-]{36}"\nLABEL="swap0"\n$/);
  assert.is(statSync(join(image.folder, 'sda2.ext4-ptcl-img.zst.aa')).size, 1_000_000, 'MB = 1 000 000 bytes');
  assert.is(statSync(join(image.folder, 'sda-gpt-1st')).size, 34 * 512);
  assert.is(statSync(join(image.folder, 'sda-gpt-2nd')).size, 33 * 512);
  assert.match(readFileSync(join(image.folder, 'sda-pt.parted'), 'utf8'), /^Disk \/dev\/sda: \d+s$/m);
  const h = header(image, 2);
  assert.is(checksumMode(h), 0x20);
  assert.is(blocksPerChecksum(h), 10485760 / blockSize(h));
  const target = restoreAndCheck(ctx, ctx.gpt, image, { swapLabel: true });
  assert.equal(gptIdentity(target), gptIdentity(ctx.gpt.path));
});

T('Clonezilla savedisk, MBR with logical partitions: gz, bz2, xz, hidden data, EBR, legacy dd-img', (ctx) => {
  const gz = makeClonezillaImage(ctx.mbr, ctx.dir, 'cz-mbr', { codec: 'gzip' });
  const files = names(gz);
  for (const f of ['sda-hidden-data-after-mbr', 'sda2-ebr', 'swappt-sda6.info', 'sda1.ext4-ptcl-img.gz', 'sda5.ext4-ptcl-img.gz'])
    assert.ok(files.includes(f), `${f} in ${files.join(', ')}`);
  assert.is(readFileSync(join(gz.folder, 'parts'), 'utf8'), 'sda1 sda5\n');
  assert.is(statSync(join(gz.folder, 'sda-hidden-data-after-mbr')).size, 2047 * 512);
  assert.is(statSync(join(gz.folder, 'sda-mbr')).size, 512);
  const target = restoreAndCheck(ctx, ctx.mbr, gz, { swapLabel: true });
  assert.ok(readRange(target, 0, MiB).equals(readRange(ctx.mbr.path, 0, MiB)), 'boot code, table and the gap after it');
  for (const codec of ['bzip2', 'xz'] as const)
    restoreAndCheck(ctx, ctx.mbr, makeClonezillaImage(ctx.mbr, ctx.dir, `cz-mbr-${codec}`, { codec }), { swapLabel: true });
  const legacy = makeClonezillaImage(ctx.gpt, ctx.dir, 'cz-gpt-dd-img', { codec: 'gzip', raw: 'dd-img' });
  assert.ok(names(legacy).includes('sda4.dd-img'));
  restoreAndCheck(ctx, ctx.gpt, legacy, { swapLabel: true });
});

T.run();
