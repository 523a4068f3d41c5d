/**
 * `shoal import fog|clonezilla` of image folders built the way FOG and Clonezilla build them
 * (test/root/foreign-images.ts: real partclone, compressors, split, sfdisk and sgdisk dumps), then
 * `shoal deploy` of the imported image onto a blank disk file and the disk checked against the
 * source file by file; and each bad input refused with the file named and nothing published.
 */
import { suite } from '../suite.js';
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';
import { blankDisk, cleanup, MiB, tableOf, workDir, type FixtureDisk } from './fixtures.js';
import { shoal, shoalOk } from './cli.js';
import {
  assertForeignDeployed,
  flipBytes,
  foreignGptDisk,
  gptIdentity,
  makeClonezillaImage,
  makeFogImage,
  markGrub,
  mbrLogicalDisk,
  readRange,
  truncateStream,
  unknownCodec,
  type ClonezillaOptions,
  type FogOptions,
  type ForeignImage,
} from './foreign-images.js';

interface Ctx {
  dir: string;
  store: string;
  gpt: FixtureDisk;
  mbr: FixtureDisk;
  gptGap: Buffer;
  /** Folders the bad-input cases copy and damage. */
  fogBase?: ForeignImage;
  czBase?: ForeignImage;
  czSplit?: ForeignImage;
}
const T = suite<Ctx>('import FOG and Clonezilla images');

T.before((ctx) => {
  ctx.dir = workDir();
  ctx.store = join(ctx.dir, 'store');
  ctx.gpt = foreignGptDisk(ctx.dir, 3);
  ctx.gptGap = markGrub(ctx.gpt); // FOG then keeps the sectors before partition 1 in d1.grub.mbr
  ctx.mbr = mbrLogicalDisk(ctx.dir, 3);
});
T.after(() => cleanup());

/** Imports a folder, deploys the image to a blank disk the source's size, and returns that disk. */
function importAndDeploy(ctx: Ctx, src: FixtureDisk, image: ForeignImage, extra: string[] = []): string {
  const name = basename(image.folder);
  const out = shoalOk('import', image.kind, image.folder, '--store', ctx.store, '--image', name, ...extra);
  assert.match(out.stdout, new RegExp(`imported ${name} v1`));
  const target = blankDisk(join(ctx.dir, `${name}-target.img`), statSync(src.path).size);
  shoalOk('deploy', '--store', ctx.store, '--image', name, '--disk', target);
  return target;
}

/** Files, fsck, swap, then what lies outside the partitions: boot code, the MBR gap, GPT identities. */
function assertDeployed(ctx: Ctx, src: FixtureDisk, image: ForeignImage, target: string): void {
  assertForeignDeployed(src, target, ctx.dir, { swapLabel: image.kind === 'clonezilla' });
  assert.ok(readRange(target, 0, 440).equals(readRange(src.path, 0, 440)), 'boot code');
  if (tableOf(src.path).label === 'dos') {
    assert.ok(readRange(target, 512, MiB - 512).equals(readRange(src.path, 512, MiB - 512)), 'the gap between the MBR and partition 1');
    const layout = (p: string) => tableOf(p).partitions!.map((x) => ({ n: /(\d+)$/.exec(x.node)![1], type: x.type, start: x.start, size: x.size }));
    if (!image.shrunk) assert.equal(layout(target), layout(src.path), 'MBR partitions, logical ones included');
  } else {
    assert.equal(gptIdentity(target), gptIdentity(src.path), 'disk GUID, partition GUIDs, types and names');
    if (image.kind === 'fog') assert.ok(readRange(target, 34 * 512, ctx.gptGap.length).equals(ctx.gptGap), 'GRUB’s sectors after the GPT (d1.grub.mbr)');
  }
}

/** The zstd level an imported image's manifest records. */
const zstdLevelOf = (ctx: Ctx, name: string): number =>
  (JSON.parse(readFileSync(join(ctx.store, name, 'v1', 'manifest.json'), 'utf8')) as { zstdLevel: number }).zstdLevel;

const fog = (ctx: Ctx, src: FixtureDisk, name: string, opts: FogOptions): ForeignImage => makeFogImage(src, ctx.dir, name, opts);
const cz = (ctx: Ctx, src: FixtureDisk, name: string, opts: ClonezillaOptions): ForeignImage => makeClonezillaImage(src, ctx.dir, name, opts);

// --- FOG ---------------------------------------------------------------------------------------

T('FOG, GPT (EFI, ext4, NTFS, raw, swap), zstd split into d1p2.img, d1p2.img.001 …', (ctx) => {
  const image = fog(ctx, ctx.gpt, 'fog-gpt-zstd', { splitBytes: MiB });
  assert.ok(image.streams.get(2)!.length >= 2, 'the ext4 stream is split');
  assertDeployed(ctx, ctx.gpt, image, importAndDeploy(ctx, ctx.gpt, image));
  shoalOk('verify', '--store', ctx.store, '--image', 'fog-gpt-zstd');
  assert.is(zstdLevelOf(ctx, 'fog-gpt-zstd'), 3, "an import's default zstd level");
});

T('FOG, MBR with logical partitions, gzip (pigz)', (ctx) => {
  ctx.fogBase = fog(ctx, ctx.mbr, 'fog-mbr-gzip', { codec: 'gzip' });
  assertDeployed(ctx, ctx.mbr, ctx.fogBase, importAndDeploy(ctx, ctx.mbr, ctx.fogBase, ['--zstd-level', '9']));
  assert.is(zstdLevelOf(ctx, 'fog-mbr-gzip'), 9, '--zstd-level 9');
});

for (const [what, opts] of [
  ['lz4', { codec: 'lz4' }],
  ['uncompressed', { codec: 'none' }],
  ['partclone image format v1 (gzip)', { codec: 'gzip', partcloneV1: true }],
] as const) {
  T(`FOG, MBR, ${what}`, (ctx) => {
    const image = fog(ctx, ctx.mbr, `fog-mbr-${what.split(' ')[0]!.replace(/\W/g, '')}`, opts);
    assertDeployed(ctx, ctx.mbr, image, importAndDeploy(ctx, ctx.mbr, image));
  });
}

T('FOG raw (dd type): partclone.imager of the whole disk, deployed bit for bit', (ctx) => {
  const image = fog(ctx, ctx.mbr, 'fog-raw', { type: 'raw', splitBytes: MiB });
  const target = importAndDeploy(ctx, ctx.mbr, image, ['--type', 'raw']);
  assert.ok(readFileSync(target).equals(readFileSync(ctx.mbr.path)), 'target equals source byte for byte');
});

T('FOG resizable (type told from the files): shrunk filesystems, deployed and whole', (ctx) => {
  const image = fog(ctx, ctx.gpt, 'fog-resizable', { type: 'resizable' });
  const target = importAndDeploy(ctx, ctx.gpt, image);
  assertDeployed(ctx, ctx.gpt, image, target);
});

// --- Clonezilla --------------------------------------------------------------------------------

T('Clonezilla, GPT, zstd split .aa/.ab; the raw partition from partclone.dd; swap UUID and label kept', (ctx) => {
  const image = (ctx.czSplit = cz(ctx, ctx.gpt, 'cz-gpt-zstd', { splitMB: 1 }));
  assert.ok(image.streams.get(2)!.length >= 2, 'the ext4 stream is split');
  assertDeployed(ctx, ctx.gpt, image, importAndDeploy(ctx, ctx.gpt, image));
  shoalOk('verify', '--store', ctx.store, '--image', 'cz-gpt-zstd');
});

T('Clonezilla, MBR with logical partitions, gzip, with the hidden data after the MBR', (ctx) => {
  ctx.czBase = cz(ctx, ctx.mbr, 'cz-mbr-gz', { codec: 'gzip' });
  assertDeployed(ctx, ctx.mbr, ctx.czBase, importAndDeploy(ctx, ctx.mbr, ctx.czBase));
});

for (const codec of ['bzip2', 'xz'] as const) {
  T(`Clonezilla, MBR, ${codec}`, (ctx) => {
    const image = cz(ctx, ctx.mbr, `cz-mbr-${codec}`, { codec });
    assertDeployed(ctx, ctx.mbr, image, importAndDeploy(ctx, ctx.mbr, image));
  });
}

T('Clonezilla, GPT, a raw partition saved by dd as sdaN.dd-img (no codec in its name)', (ctx) => {
  const image = cz(ctx, ctx.gpt, 'cz-gpt-ddimg', { codec: 'gzip', raw: 'dd-img' });
  assert.ok(readdirSync(image.folder).includes('sda4.dd-img'));
  assertDeployed(ctx, ctx.gpt, image, importAndDeploy(ctx, ctx.gpt, image));
});

// --- Bad inputs --------------------------------------------------------------------------------

const imageList = (ctx: Ctx): string => shoalOk('image', 'list', '--store', ctx.store).stdout;

/** Copies a good folder, damages the copy, and checks the import is refused naming `names`. */
function assertRefused(ctx: Ctx, base: ForeignImage, name: string, damage: (folder: string) => void, names: RegExp): void {
  const folder = join(ctx.dir, name);
  rmSync(folder, { recursive: true, force: true });
  execFileSync('cp', ['-a', base.folder, folder]);
  damage(folder);
  const before = imageList(ctx);
  const r = shoal('import', base.kind, folder, '--store', ctx.store, '--image', name);
  assert.is.not(r.code, 0, `import of ${name} should fail`);
  const last = r.stderr.trim().split('\n').pop() ?? '';
  assert.match(last, /^shoal: error: /, `one clear error line, got: ${r.stderr}`);
  assert.match(last, names, `the error names the file: ${last}`);
  assert.is(imageList(ctx), before, 'nothing published');
  assert.not.ok(existsSync(join(ctx.store, name)), 'no image directory');
  const staging = join(ctx.store, '.staging');
  assert.equal(existsSync(staging) ? readdirSync(staging) : [], [], 'no staging leftovers');
}

const pieces = (folder: string, prefix: string): string[] =>
  readdirSync(folder)
    .filter((f) => f.startsWith(prefix))
    .sort()
    .map((f) => join(folder, f));

T('FOG bad inputs: truncated stream, bytes flipped mid-stream, no d1.partitions, an unknown codec', (ctx) => {
  const base = ctx.fogBase ?? fog(ctx, ctx.mbr, 'fog-mbr-gzip-base', { codec: 'gzip' });
  assertRefused(ctx, base, 'bad-fog-truncated', (f) => truncateStream(join(f, 'd1p5.img'), 0.6), /d1p5\.img/);
  assertRefused(ctx, base, 'bad-fog-corrupt', (f) => flipBytes(join(f, 'd1p1.img'), 0.5), /d1p1\.img/);
  assertRefused(ctx, base, 'bad-fog-no-table', (f) => rmSync(join(f, 'd1.partitions')), /d1\.partitions/);
  assertRefused(ctx, base, 'bad-fog-codec', (f) => unknownCodec(join(f, 'd1p5.img')), /d1p5\.img/);
});

T('Clonezilla bad inputs: truncated stream, bytes flipped mid-stream, no sda-pt.sf, an unknown codec', (ctx) => {
  const base = ctx.czBase ?? cz(ctx, ctx.mbr, 'cz-mbr-gz-base', { codec: 'gzip' });
  assertRefused(ctx, base, 'bad-cz-truncated', (f) => truncateStream(join(f, 'sda5.ext4-ptcl-img.gz'), 0.6), /sda5\.ext4-ptcl-img\.gz/);
  assertRefused(ctx, base, 'bad-cz-corrupt', (f) => flipBytes(join(f, 'sda1.ext4-ptcl-img.gz'), 0.5), /sda1\.ext4-ptcl-img\.gz/);
  assertRefused(ctx, base, 'bad-cz-no-table', (f) => rmSync(join(f, 'sda-pt.sf')), /sda-pt\.sf/);
  assertRefused(ctx, base, 'bad-cz-codec', (f) => unknownCodec(join(f, 'sda5.ext4-ptcl-img.gz'), 'sda5.ext4-ptcl-img.lzo'), /sda5\.ext4-ptcl-img\.lzo/);
  // A split stream missing a piece is a truncated stream too.
  const split = ctx.czSplit ?? cz(ctx, ctx.gpt, 'cz-gpt-split-base', { splitMB: 1 });
  assert.ok(pieces(split.folder, 'sda2.ext4-ptcl-img.zst.').length >= 2);
  assertRefused(ctx, split, 'bad-cz-piece-gone', (f) => rmSync(pieces(f, 'sda2.ext4-ptcl-img.zst.')[0]!), /sda2\.ext4-ptcl-img\.zst/);
});

T.run();
