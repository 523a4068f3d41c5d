/** Round trips of real disks through every image type (needs root: loop devices, mounts). */
import { suite } from '../suite.js';
import * as assert from 'uvu/assert';
import { closeSync, copyFileSync, openSync, readFileSync, truncateSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { assertPartitionsDeployed, blankDisk, cleanup, filesystemBytes, makeDisk, MiB, tableOf, workDir, type FixtureDisk } from './fixtures.js';
import { shoalOk } from './cli.js';

const GPT_PARTS = [
  { sizeMiB: 64, fs: 'vfat', name: 'EFI system', label: 'EFI' },
  { sizeMiB: 160, fs: 'ext4', name: 'root', label: 'root' },
  { sizeMiB: 160, fs: 'ntfs', name: 'Windows', label: 'Windows' },
  { sizeMiB: 64, fs: 'swap', name: 'swap', label: 'swap0' },
] as const;
const MBR_PARTS = [
  { sizeMiB: 120, fs: 'ext4', label: 'boot' },
  { fs: 'extended' },
  { sizeMiB: 140, fs: 'ext4', logical: true, label: 'home' },
  { fs: 'ntfs', logical: true, label: 'Data' },
] as const;

interface Ctx {
  dir: string;
  store: string;
  gpt: FixtureDisk;
  mbr: FixtureDisk;
}
const T = suite<Ctx>('round trips');

T.before((ctx) => {
  ctx.dir = workDir();
  ctx.store = join(ctx.dir, 'store');
  ctx.gpt = makeDisk(ctx.dir, 'gpt.img', 480, 'gpt', [...GPT_PARTS]);
  ctx.mbr = makeDisk(ctx.dir, 'mbr.img', 400, 'dos', [...MBR_PARTS]);
});
T.after(() => cleanup());

const strip = (t: ReturnType<typeof tableOf>, keepGeometry: boolean) =>
  t.partitions!.map((p) => {
    const { node, start, size, ...rest } = p;
    return { n: /(\d+)$/.exec(node)![1], ...rest, ...(keepGeometry && { start, size }) };
  });

/** Files, fsck, table, boot code: what an admin would check after a deploy. */
function assertDeployed(src: FixtureDisk, target: string, dir: string, opts: { sameGeometry: boolean }): void {
  const st = tableOf(src.path);
  const tt = tableOf(target);
  assert.is(tt.label, st.label);
  assert.is(tt.id, st.id, 'disk GUID / signature');
  assert.equal(strip(tt, opts.sameGeometry), strip(st, opts.sameGeometry), 'partition table');
  assert.ok(readFileSync(target).subarray(0, 440).equals(readFileSync(src.path).subarray(0, 440)), 'boot code');
  if (st.label === 'dos') {
    const gap = (p: string) => readFileSync(p).subarray(512, 512 + 64 * 1024);
    assert.ok(gap(target).equals(gap(src.path)), 'post-MBR gap');
  }
  assertPartitionsDeployed(src, target, dir);
}

for (const [label, key] of [
  ['GPT', 'gpt'],
  ['MBR', 'mbr'],
] as const) {
  T(`multipart round trip of a ${label} disk, onto a larger disk`, (ctx) => {
    const src = ctx[key];
    shoalOk('capture', '--disk', src.path, '--store', ctx.store, '--image', `${key}-multi`, '--type', 'multipart');
    const target = join(ctx.dir, `${key}-multi-target.img`);
    copyFileSync(join(ctx.dir, `${key}.img`), target); // old content to be overwritten, then more room
    truncateSync(target, 520 * MiB);
    shoalOk('deploy', '--store', ctx.store, '--image', `${key}-multi`, '--disk', target);
    assertDeployed(src, target, ctx.dir, { sameGeometry: true });
    shoalOk('verify', '--store', ctx.store, '--image', `${key}-multi`);
  });

  T(`raw round trip of a ${label} disk is bit for bit`, (ctx) => {
    const src = ctx[key];
    shoalOk('capture', '--disk', src.path, '--store', ctx.store, '--image', `${key}-raw`, '--type', 'raw');
    const target = join(ctx.dir, `${key}-raw-target.img`);
    blankDisk(target, (key === 'gpt' ? 480 : 400) * MiB);
    // Garbage where the source has zeros: raw must write its zero runs too.
    const fd = openSync(target, 'r+');
    writeSync(fd, Buffer.alloc(MiB, 0xa5), 0, MiB, 300 * MiB);
    closeSync(fd);
    shoalOk('deploy', '--store', ctx.store, '--image', `${key}-raw`, '--disk', target);
    assert.ok(readFileSync(target).equals(readFileSync(src.path)), 'target equals source byte for byte');
  });

  T(`resizable round trip of a ${label} disk onto a smaller and a larger disk`, (ctx) => {
    const src = ctx[key];
    const before = readFileSync(src.path);
    shoalOk('capture', '--disk', src.path, '--store', ctx.store, '--image', `${key}-resize`, '--type', 'resizable');
    // The source is grown back: same table, every filesystem whole and clean, files unchanged.
    assert.equal(tableOf(src.path), { ...tableOf(src.path) });
    assertDeployed(src, src.path, ctx.dir, { sameGeometry: true });
    assert.is(readFileSync(src.path).length, before.length);
    for (const sizeMiB of [300, 900]) {
      const target = join(ctx.dir, `${key}-resize-${sizeMiB}.img`);
      blankDisk(target, sizeMiB * MiB);
      shoalOk('deploy', '--store', ctx.store, '--image', `${key}-resize`, '--disk', target);
      assertDeployed(src, target, ctx.dir, { sameGeometry: false });
      const parts = tableOf(target).partitions as Array<{ node: string; start: number; size: number }>;
      const end = Math.max(...parts.map((p) => (p.start + p.size) * 512));
      assert.ok(sizeMiB * MiB - end < 2 * MiB, `partitions fill the ${sizeMiB} MiB disk (end at ${end})`);
      // Each resizable filesystem was grown to fill its new partition.
      for (const part of src.parts) {
        const p = parts.find((q) => Number(/(\d+)$/.exec(q.node)![1]) === part.number)!;
        const fsBytes = filesystemBytes(target, p.start * 512, p.size * 512, part.fs);
        if (fsBytes !== undefined)
          assert.ok(p.size * 512 - fsBytes < 4 * MiB, `partition ${part.number}: ${part.fs} of ${fsBytes} bytes fills its ${p.size * 512}-byte partition`);
      }
    }
  });
}

T('alldisks captures both disks and deploys each to its counterpart', (ctx) => {
  shoalOk('capture', '--disk', ctx.gpt.path, '--disk', ctx.mbr.path, '--store', ctx.store, '--image', 'lab-all', '--type', 'alldisks');
  const t1 = join(ctx.dir, 'all-1.img');
  const t2 = join(ctx.dir, 'all-2.img');
  blankDisk(t1, 480 * MiB);
  blankDisk(t2, 400 * MiB);
  shoalOk('deploy', '--store', ctx.store, '--image', 'lab-all', '--disk', t1, '--disk', t2);
  assertDeployed(ctx.gpt, t1, ctx.dir, { sameGeometry: true });
  assertDeployed(ctx.mbr, t2, ctx.dir, { sameGeometry: true });
});

T.run();
