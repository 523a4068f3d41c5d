/** Bad input gets one clear line and a non-zero exit, and loses nothing (needs root). */
import { suite } from '../suite.js';
import * as assert from 'uvu/assert';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, writeFileSync, openSync, writeSync, closeSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { fileURLToPath } from 'node:url';
import {
  blankDisk,
  cleanup,
  fsck,
  loop,
  makeDisk,
  MiB,
  mount,
  readFilesBack,
  sh,
  sha256,
  tableOf,
  umount,
  unloop,
  workDir,
  type FixtureDisk,
} from './fixtures.js';
import { shoalFails, shoalOk } from './cli.js';
import { capture } from '../../client/capture/capture-disk.js';

/**
 * A manifest as these tests edit it by hand into something bad: the fields they change checked,
 * every other one kept as it came (loose), so that what is written back differs only there.
 */
const EditedManifestSchema = z.looseObject({
  name: z.string(),
  pieceLength: z.unknown(),
  disks: z.array(
    z.looseObject({
      sizeBytes: z.number(),
      partitions: z.array(z.looseObject({ startBytes: z.number() })),
      areas: z.array(z.looseObject({ id: z.string(), sizeBytes: z.number(), pieces: z.array(z.looseObject({ runs: z.array(z.array(z.number())) })) })),
    }),
  ),
});
const readManifest = (mf: string) => EditedManifestSchema.parse(JSON.parse(readFileSync(mf, 'utf8')));

interface Ctx {
  dir: string;
  store: string;
  disk: FixtureDisk;
}
const T = suite<Ctx>('bad input');

T.before((ctx) => {
  ctx.dir = workDir();
  ctx.store = join(ctx.dir, 'store');
  ctx.disk = makeDisk(
    ctx.dir,
    'src.img',
    300,
    'gpt',
    [
      { sizeMiB: 40, fs: 'vfat', name: 'EFI system' },
      { sizeMiB: 200, fs: 'ext4', name: 'root' },
    ],
    4,
  );
  shoalOk('capture', '--disk', ctx.disk.path, '--store', ctx.store, '--image', 'good', '--type', 'multipart');
});
T.after(() => cleanup());

const fileHash = (p: string): string => sha256(readFileSync(p));
const copyImage = (ctx: Ctx, name: string): string => {
  sh('cp', ['-r', join(ctx.store, 'good'), join(ctx.store, name)]);
  const mf = join(ctx.store, name, 'v1', 'manifest.json');
  const m = readManifest(mf);
  m.name = name;
  writeFileSync(mf, JSON.stringify(m));
  return mf;
};

T('a target disk too small is refused and left untouched', (ctx) => {
  const target = blankDisk(join(ctx.dir, 'small.img'), 200 * MiB);
  const before = fileHash(target);
  assert.match(
    shoalFails('deploy', '--store', ctx.store, '--image', 'good', '--disk', target),
    /is too small: 200\.0 MiB, the multipart image needs 300\.0 MiB/,
  );
  assert.is(fileHash(target), before);
});

T('a missing disk is named', (ctx) => {
  assert.match(
    shoalFails('capture', '--disk', join(ctx.dir, 'nope.img'), '--store', ctx.store, '--image', 'x', '--type', 'raw'),
    /disk .*nope\.img does not exist/,
  );
  assert.match(shoalFails('deploy', '--store', ctx.store, '--image', 'good', '--disk', join(ctx.dir, 'nope.img')), /does not exist/);
});

T('image names with / or .. are refused', (ctx) => {
  for (const name of ['../evil', 'a/b', '..', 'x..y']) {
    assert.match(shoalFails('capture', '--disk', ctx.disk.path, '--store', ctx.store, '--image', name, '--type', 'raw'), /invalid image name/);
  }
  assert.match(shoalFails('deploy', '--store', ctx.store, '--image', '../good', '--disk', ctx.disk.path), /invalid image name/);
  assert.not.ok(existsSync(join(ctx.dir, 'evil')));
});

T('a piece length that is not a power of two from 64 KiB to 64 MiB is refused before anything is captured', (ctx) => {
  for (const bytes of ['100000', '32768', String(128 << 20)]) {
    assert.match(
      shoalFails('capture', '--disk', ctx.disk.path, '--store', ctx.store, '--image', 'oddpieces', '--type', 'raw', '--piece-length', bytes),
      new RegExp(`--piece-length ${bytes}: the piece length must be a power of two from 64 KiB to 64 MiB`),
    );
  }
  assert.not.ok(existsSync(join(ctx.store, 'oddpieces')), 'nothing in the store');
});

T('a manifest that fails its schema is refused by deploy, verify and info', (ctx) => {
  const mf = copyImage(ctx, 'badschema');
  const m = readManifest(mf);
  m.pieceLength = 'four megabytes';
  writeFileSync(mf, JSON.stringify(m));
  const target = blankDisk(join(ctx.dir, 'schema-target.img'), 300 * MiB);
  const before = fileHash(target);
  for (const args of [['deploy', '--disk', target], ['verify'], ['image', 'info']]) {
    assert.match(shoalFails(...args, '--store', ctx.store, '--image', 'badschema'), /manifest fails its schema at pieceLength/);
  }
  writeFileSync(mf, '{"format": "shoal-image/1",');
  assert.match(shoalFails('verify', '--store', ctx.store, '--image', 'badschema'), /manifest is not valid JSON/);
  assert.is(fileHash(target), before);
});

T('a run that leaves its partition is refused before anything is written', (ctx) => {
  const mf = copyImage(ctx, 'badrun');
  const m = readManifest(mf);
  const disk = m.disks[0]!;
  const area = disk.areas.find((a) => a.id === 'd0p2')!;
  area.pieces[0]!.runs[0] = [area.sizeBytes - 4096, 8192, 0];
  writeFileSync(mf, JSON.stringify(m));
  const target = blankDisk(join(ctx.dir, 'run-target.img'), 300 * MiB);
  const before = fileHash(target);
  assert.match(shoalFails('deploy', '--store', ctx.store, '--image', 'badrun', '--disk', target), /piece 0 of d0p2 has a run at .* past the area's/);
  assert.is(fileHash(target), before);
  // An area whose partition lies past the disk's end.
  area.pieces[0]!.runs[0] = [0, 4096, 0];
  disk.partitions[1]!.startBytes = disk.sizeBytes;
  writeFileSync(mf, JSON.stringify(m));
  assert.match(shoalFails('deploy', '--store', ctx.store, '--image', 'badrun', '--disk', target), /partition 2 of disk 0 ends past the disk's end/);
  assert.is(fileHash(target), before);
});

T('a corrupt piece is named by verify and stops a deploy', (ctx) => {
  copyImage(ctx, 'corrupt');
  const pieces = join(ctx.store, 'corrupt', 'v1', 'd0p2.pieces');
  const fd = openSync(pieces, 'r+');
  writeSync(fd, Buffer.from('garbage!'), 0, 8, 1000);
  closeSync(fd);
  assert.match(shoalFails('verify', '--store', ctx.store, '--image', 'corrupt'), /piece 0 of d0p2 is corrupt: SHA-1 [0-9a-f]{40} where the image says/);
  const target = blankDisk(join(ctx.dir, 'corrupt-target.img'), 300 * MiB);
  assert.match(shoalFails('deploy', '--store', ctx.store, '--image', 'corrupt', '--disk', target), /piece 0 of d0p2 is corrupt/);
});

T('a disk with other logical sectors than the image is refused', (ctx) => {
  const file = blankDisk(join(ctx.dir, '4k.img'), 300 * MiB);
  const dev = sh('losetup', ['--find', '--show', '--sector-size', '4096', file]).trim();
  try {
    assert.match(
      shoalFails('deploy', '--store', ctx.store, '--image', 'good', '--disk', dev),
      /has 4096-byte sectors; the image was captured from 512-byte sectors/,
    );
  } finally {
    unloop(dev);
  }
});

T('a disk with a mounted filesystem is refused for capture and deploy', (ctx) => {
  const p = ctx.disk.parts[1]!;
  const dev = loop(ctx.disk.path, p.start, p.size);
  const mnt = mount(dev, 'ext4', ctx.dir, true);
  try {
    assert.match(
      shoalFails('capture', '--disk', ctx.disk.path, '--store', ctx.store, '--image', 'busy', '--type', 'multipart'),
      /disk .*src\.img is in use \(\/dev\/loop\d+ on .*\); unmount it first/,
    );
    const before = fileHash(ctx.disk.path);
    assert.match(shoalFails('deploy', '--store', ctx.store, '--image', 'good', '--disk', ctx.disk.path), /is in use/);
    assert.is(fileHash(ctx.disk.path), before);
  } finally {
    umount(mnt);
    unloop(dev);
  }
});

T('block devices work as well as files, for capture and deploy', (ctx) => {
  const srcDev = loop(ctx.disk.path);
  const target = blankDisk(join(ctx.dir, 'blk-target.img'), 320 * MiB);
  const dstDev = loop(target);
  try {
    shoalOk('capture', '--disk', srcDev, '--store', ctx.store, '--image', 'fromblock', '--type', 'multipart');
    shoalOk('deploy', '--store', ctx.store, '--image', 'fromblock', '--disk', dstDev);
  } finally {
    unloop(srcDev);
    unloop(dstDev);
  }
  const p2 = (tableOf(target).partitions as Array<{ start: number; size: number }>)[1]!;
  fsck(target, p2.start * 512, p2.size * 512, 'ext4');
  const want = ctx.disk.files.get(2)!;
  assert.equal(readFilesBack(target, p2.start * 512, p2.size * 512, 'ext4', want, ctx.dir), want);
});

T('a source filesystem that fails its check is not shrunk, and nothing is published', (ctx) => {
  const broken = makeDisk(ctx.dir, 'broken.img', 200, 'gpt', [{ fs: 'ext4', name: 'root' }], 2);
  const p = broken.parts[0]!;
  const dev = loop(broken.path, p.start, p.size);
  sh('debugfs', ['-w', '-R', 'freei <12>', dev]); // an in-use inode marked free: e2fsck -n must complain
  unloop(dev);
  const before = fileHash(broken.path);
  assert.match(
    shoalFails('capture', '--disk', broken.path, '--store', ctx.store, '--image', 'broken', '--type', 'resizable'),
    /partition 1: the ext4 filesystem fails its check, so it will not be shrunk/,
  );
  assert.is(fileHash(broken.path), before, 'source untouched');
  assert.not.ok(existsSync(join(ctx.store, 'broken')));
  assert.equal(readdirSync(join(ctx.store, '.staging')), []);
});

T('a resizable capture that fails after the shrink grows the source back and publishes nothing', async (ctx) => {
  const d = makeDisk(
    ctx.dir,
    'growback.img',
    300,
    'gpt',
    [
      { sizeMiB: 200, fs: 'ext4', name: 'root' },
      { fs: 'ntfs', name: 'win' },
    ],
    4,
  );
  const blocks = (part: number): string => {
    const p = d.parts[part]!;
    const dev = loop(d.path, p.start, p.size);
    try {
      return part === 0
        ? /Block count:\s+(\d+)/.exec(sh('dumpe2fs', ['-h', dev]))![1]!
        : sh('ntfsresize', ['--info', '--force', dev]).match(/Current volume size: (\d+)/)![1]!;
    } finally {
      unloop(dev);
    }
  };
  const before = [blocks(0), blocks(1)];
  let err: Error | undefined;
  try {
    await capture({
      disks: [d.path],
      store: ctx.store,
      image: 'growback',
      type: 'resizable',
      onShrunk: () => {
        assert.is.not(blocks(0), before[0], 'ext4 was shrunk');
        throw new Error('simulated failure after the shrink');
      },
    });
  } catch (e) {
    err = e as Error;
  }
  assert.match(err?.message ?? '', /simulated failure/);
  assert.equal([blocks(0), blocks(1)], before, 'both filesystems grown back');
  for (const part of d.parts) {
    fsck(d.path, part.start, part.size, part.fs);
    assert.equal(readFilesBack(d.path, part.start, part.size, part.fs, d.files.get(part.number)!, ctx.dir), d.files.get(part.number)!);
  }
  assert.not.ok(existsSync(join(ctx.store, 'growback')));
});

T('a capture killed half-way publishes nothing', async (ctx) => {
  const cli = fileURLToPath(new URL('../../client/cli.js', import.meta.url));
  const child = spawn(process.execPath, [cli, 'capture', '--disk', ctx.disk.path, '--store', ctx.store, '--image', 'killed', '--type', 'raw'], {
    stdio: 'ignore',
  });
  await new Promise((r) => setTimeout(r, 400));
  child.kill('SIGKILL');
  await new Promise((r) => child.once('exit', r));
  assert.not.ok(existsSync(join(ctx.store, 'killed')));
  assert.match(shoalFails('deploy', '--store', ctx.store, '--image', 'killed', '--disk', ctx.disk.path), /no image "killed"/);
  // The next capture sweeps the dead one's staging directory away.
  shoalOk('capture', '--disk', ctx.disk.path, '--store', ctx.store, '--image', 'after-kill', '--type', 'multipart');
  assert.equal(readdirSync(join(ctx.store, '.staging')), []);
});

T.run();
