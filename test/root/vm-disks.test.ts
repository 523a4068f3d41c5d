/**
 * Virtual-machine disks (needs root: loop devices, FUSE). Golden images kept as qcow2, VMDK, VHD
 * and VHDX files, made with qemu-img from real fixture disks, are captured straight from the file
 * (qemu-storage-daemon's FUSE export, no raw copy) and must deploy like a capture of the real disk:
 * table, boot code, post-MBR gap, every file; the VM file itself byte for byte unchanged, a
 * resizable capture included. `shoal export` writes each format, checked with qemu-img against an
 * ordinary deploy to a raw file. Bad input is refused in one line and leaves nothing behind: no
 * FUSE mount, no qemu process, no work directory, no .partial file.
 */
import { suite } from '../suite.js';
import * as assert from 'uvu/assert';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync, truncateSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { assertPartitionsDeployed, blankDisk, cleanup, makeDisk, MiB, sh, tableOf, workDir, type FixtureDisk } from './fixtures.js';
import { shoal, shoalFails, shoalOk } from './cli.js';

interface Ctx {
  dir: string;
  store: string;
  gpt: FixtureDisk;
  mbr: FixtureDisk;
}
const T = suite<Ctx>('virtual-machine disks');

T.before((ctx) => {
  ctx.dir = workDir();
  ctx.store = join(ctx.dir, 'store');
  ctx.gpt = makeDisk(ctx.dir, 'gpt.img', 320, 'gpt', [
    { sizeMiB: 40, fs: 'vfat', name: 'EFI system', label: 'EFI' },
    { sizeMiB: 110, fs: 'ext4', name: 'root', label: 'root' },
    { sizeMiB: 110, fs: 'ntfs', name: 'Windows', label: 'Windows' },
    { fs: 'swap', name: 'swap', label: 'swap0' },
  ]);
  ctx.mbr = makeDisk(ctx.dir, 'mbr.img', 260, 'dos', [
    { sizeMiB: 100, fs: 'ext4', label: 'boot' },
    { fs: 'extended' },
    { sizeMiB: 80, fs: 'ext4', logical: true, label: 'home' },
    { fs: 'ntfs', logical: true, label: 'Data' },
  ]);
});
T.after(() => cleanup());

/** qemu's driver name of each format as Shoal's --format names it. */
const DRIVER: Record<string, string> = { raw: 'raw', qcow2: 'qcow2', vmdk: 'vmdk', vhd: 'vpc', vhdx: 'vhdx' };
const hash = (path: string): string => sh('sha256sum', [path]).split(' ')[0]!;

function vmDisk(src: string, out: string, driver: string, options: string[] = []): string {
  sh('qemu-img', ['convert', '-f', 'raw', '-O', driver, ...options, src, out]);
  return out;
}

/** What a capture and a deploy may leave behind when they go wrong: none of it may be there. */
function assertNothingLeft(ctx: Ctx, out?: string): void {
  const mounts = readFileSync('/proc/mounts', 'utf8')
    .split('\n')
    .filter((l) => l.includes('.shoal-vm-'));
  assert.equal(mounts, [], 'no FUSE export is left mounted');
  // A loop device over an export that is gone shows "/" as its backing file.
  const loops = sh('losetup', ['--list', '--noheadings', '--output', 'NAME,BACK-FILE'])
    .split('\n')
    .filter((l) => /\s\/$/.test(l.trim()) || l.includes('.shoal-vm-'));
  assert.equal(loops, [], 'no loop device is left over an export');
  const daemons = spawnSync('pgrep', ['-f', 'qemu-storage-daemon.*shoal-vm-'], { encoding: 'utf8' }).stdout.trim();
  assert.is(daemons, '', 'no qemu-storage-daemon is left running');
  for (const d of [ctx.store, tmpdir()])
    if (existsSync(d))
      assert.equal(
        readdirSync(d).filter((e) => e.startsWith('.shoal-vm-')),
        [],
        `no work directory is left in ${d}`,
      );
  if (out) {
    assert.not.ok(existsSync(`${out}.partial`), 'no .partial file');
    assert.not.ok(existsSync(`${out}.partial.qcow2`), 'no staging qcow2');
  }
}

const strip = (t: ReturnType<typeof tableOf>, keepGeometry: boolean) =>
  t.partitions!.map((p) => {
    const { node, start, size, ...rest } = p;
    return { n: /(\d+)$/.exec(node)![1], ...rest, ...(keepGeometry && { start, size }) };
  });

/** As a capture of the real disk would deploy: table, boot code, post-MBR gap, every file. */
function assertDeployed(src: FixtureDisk, target: string, dir: string, sameGeometry: boolean): void {
  const st = tableOf(src.path);
  const tt = tableOf(target);
  assert.is(tt.id, st.id, 'disk GUID / signature');
  assert.equal(strip(tt, sameGeometry), strip(st, sameGeometry), 'partition table');
  const head = (p: string, n: number) => readFileSync(p).subarray(0, n);
  assert.ok(head(target, 440).equals(head(src.path, 440)), 'boot code');
  if (st.label === 'dos')
    assert.ok(
      head(target, 512 + 64 * 1024)
        .subarray(512)
        .equals(head(src.path, 512 + 64 * 1024).subarray(512)),
      'post-MBR gap',
    );
  assertPartitionsDeployed(src, target, dir);
}

for (const [name, driver, type, disk, options] of [
  // The shrink in qemu's overlay is the same whatever the format: one resizable capture (CI time).
  ['qcow2', 'qcow2', 'resizable', 'gpt', []],
  ['VMDK', 'vmdk', 'multipart', 'gpt', []],
  ['VHDX', 'vhdx', 'multipart', 'gpt', []],
  ['dynamic VHD', 'vpc', 'multipart', 'mbr', ['-o', 'subformat=dynamic,force_size=on']],
  ['fixed VHD', 'vpc', 'multipart', 'mbr', ['-o', 'subformat=fixed,force_size=on']],
] as const) {
  T(`${type} capture of a ${disk.toUpperCase()} disk from a ${name} file deploys as from the real disk; the file unchanged`, (ctx) => {
    const src = ctx[disk];
    const vm = vmDisk(src.path, join(ctx.dir, `${disk}-${name.replace(' ', '-')}.${driver}`), driver, [...options]);
    const before = hash(vm);
    const image = `${disk}-${name.replace(' ', '-')}`.toLowerCase();
    shoalOk('capture', '--disk', vm, '--store', ctx.store, '--image', image, '--type', type);
    assert.is(hash(vm), before, `the ${name} file is unchanged`);
    assertNothingLeft(ctx);
    const m = JSON.parse(shoalOk('image', 'info', '--store', ctx.store, '--image', image, '--json').stdout) as {
      disks: Array<{ sizeBytes: number; partitions: Array<{ number: number; resizable: boolean; fsSizeBytes: number; sizeBytes: number }> }>;
    };
    assert.is(m.disks[0]!.sizeBytes, statSync(src.path).size, "the disk's size is the virtual disk's, not the file's");
    if (type === 'resizable') {
      // The shrink happened (in qemu's overlay, not in the file): the image's filesystems are smaller.
      const shrunk = m.disks[0]!.partitions.filter((p) => p.resizable && p.fsSizeBytes < p.sizeBytes);
      assert.ok(shrunk.length >= 2, `ext4 and NTFS captured shrunk: ${JSON.stringify(m.disks[0]!.partitions)}`);
    }
    const target = blankDisk(join(ctx.dir, `${image}-target.img`), statSync(src.path).size);
    shoalOk('deploy', '--store', ctx.store, '--image', image, '--disk', target);
    assertDeployed(src, target, ctx.dir, type === 'multipart');
  });
}

T('export writes raw, qcow2, VMDK, VHD and VHDX files qemu reads as the deployed disk, holding only the data', (ctx) => {
  // multipart: a deploy that grows no filesystem is the same bytes each time (resize2fs stamps its time).
  shoalOk('capture', '--disk', ctx.gpt.path, '--store', ctx.store, '--image', 'pc', '--type', 'multipart');
  const reference = blankDisk(join(ctx.dir, 'pc-reference.img'), statSync(ctx.gpt.path).size);
  shoalOk('deploy', '--store', ctx.store, '--image', 'pc', '--disk', reference);
  const used = Number(/"rawBytes": (\d+)/.exec(shoalOk('image', 'info', '--store', ctx.store, '--image', 'pc', '--json').stdout)![1]);
  for (const format of ['raw', 'qcow2', 'vmdk', 'vhd', 'vhdx']) {
    const out = join(ctx.dir, `pc.${format}`);
    const t0 = Date.now();
    shoalOk('export', '--store', ctx.store, '--image', 'pc', '--format', format, '--out', out);
    const seconds = (Date.now() - t0) / 1000;
    const info = JSON.parse(sh('qemu-img', ['info', '--output=json', '-f', DRIVER[format]!, out])) as { format: string; 'virtual-size': number };
    assert.is(info.format, DRIVER[format], `${format}: the file is in its format`);
    assert.is(info['virtual-size'], statSync(ctx.gpt.path).size, `${format}: the disk's size`);
    if (format === 'qcow2' || format === 'vhdx') sh('qemu-img', ['check', '-f', DRIVER[format]!, out]);
    const same = spawnSync('qemu-img', ['compare', '-f', 'raw', '-F', DRIVER[format]!, reference, out], { encoding: 'utf8' });
    assert.is(same.status, 0, `${format}: qemu-img compare with a deploy to a raw file: ${same.stdout}${same.stderr}`);
    // Only the image's data is written: the file holds little more than the captured bytes.
    const fileBytes = statSync(out).blocks * 512;
    console.log(`  ${format}: ${(fileBytes / MiB).toFixed(1)} MiB of file for ${(used / MiB).toFixed(1)} MiB of data, ${seconds.toFixed(1)} s`);
    assert.ok(fileBytes < used + 24 * MiB, `${format}: ${fileBytes} bytes of file for ${used} bytes of data`);
  }
  assertNothingLeft(ctx, join(ctx.dir, 'pc.qcow2'));
  // --size lays a resizable image (the qcow2 capture above) out for another size; the exported disk is a source again.
  const bigger = join(ctx.dir, 'pc-bigger.vhdx');
  shoalOk('export', '--store', ctx.store, '--image', 'gpt-qcow2', '--format', 'vhdx', '--out', bigger, '--size', '400M');
  shoalOk('capture', '--disk', bigger, '--store', ctx.store, '--image', 'pc-again', '--type', 'multipart');
  const again = blankDisk(join(ctx.dir, 'pc-again.img'), 400 * MiB);
  shoalOk('deploy', '--store', ctx.store, '--image', 'pc-again', '--disk', again);
  assertDeployed(ctx.gpt, again, ctx.dir, false);
});

T('bad input is refused in one line and leaves nothing behind', (ctx) => {
  const store = ctx.store;
  // A format qemu knows but Shoal does not take.
  const vdi = join(ctx.dir, 'golden.vdi');
  sh('qemu-img', ['convert', '-O', 'vdi', ctx.mbr.path, vdi]);
  assert.match(
    shoalFails('capture', '--disk', vdi, '--store', store, '--image', 'x', '--type', 'multipart'),
    /golden\.vdi is a vdi image; Shoal reads qcow2, VMDK, VHD and VHDX/,
  );
  // Not a disk at all: a plain file qemu takes for raw is what it always was, a disk without a table.
  const junk = join(ctx.dir, 'notes.qcow2');
  writeFileSync(junk, 'not a virtual disk, whatever its name says\n'.repeat(100));
  assert.match(shoalFails('capture', '--disk', junk, '--store', store, '--image', 'x', '--type', 'multipart'), /has no partition table/);
  // A truncated qcow2: refused before anything is read.
  const cut = vmDisk(ctx.gpt.path, join(ctx.dir, 'cut.qcow2'), 'qcow2');
  truncateSync(cut, Math.floor(statSync(cut).size / 2));
  assert.match(
    shoalFails('capture', '--disk', cut, '--store', store, '--image', 'x', '--type', 'resizable'),
    /cut\.qcow2 is a damaged qcow2 file \(qemu-img check: \d+ corruptions\)/,
  );
  // A VMDK cut half-way and a VHD that lost its footer: qemu opens both, and would read the VMDK's
  // lost grains as zeros.
  const cutVmdk = vmDisk(ctx.gpt.path, join(ctx.dir, 'cut.vmdk'), 'vmdk');
  truncateSync(cutVmdk, Math.floor(statSync(cutVmdk).size / 2));
  sh('qemu-img', ['info', '-f', 'vmdk', cutVmdk]);
  assert.match(
    shoalFails('capture', '--disk', cutVmdk, '--store', store, '--image', 'x', '--type', 'multipart'),
    /cut\.vmdk is cut short: grain \d+ ends at byte \d+, past the file's \d+ bytes/,
  );
  const cutVhd = vmDisk(ctx.gpt.path, join(ctx.dir, 'cut.vhd'), 'vpc');
  truncateSync(cutVhd, statSync(cutVhd).size - 512);
  assert.match(
    shoalFails('capture', '--disk', cutVhd, '--store', store, '--image', 'x', '--type', 'multipart'),
    /cut\.vhd is cut short: the footer a VHD ends with is missing/,
  );
  // A qcow2 cut inside its header.
  const stub = join(ctx.dir, 'stub.qcow2');
  writeFileSync(stub, readFileSync(cut).subarray(0, 100));
  assert.match(
    shoalFails('capture', '--disk', stub, '--store', store, '--image', 'x', '--type', 'multipart'),
    /stub\.qcow2 cannot be read as a disk: .*header too short/,
  );
  assertNothingLeft(ctx);

  // A VM disk a running virtual machine holds: qemu's image lock says so.
  const busy = vmDisk(ctx.mbr.path, join(ctx.dir, 'busy.qcow2'), 'qcow2');
  // (qemu takes an image's locks once something uses it: here an NBD export, as a VM's disk would.)
  const vm = spawn(
    'qemu-storage-daemon',
    [
      ...['--blockdev', JSON.stringify({ driver: 'qcow2', 'node-name': 'd', file: { driver: 'file', filename: busy } })],
      ...['--nbd-server', `addr.type=unix,addr.path=${join(ctx.dir, 'nbd.sock')}`, '--export', 'type=nbd,id=e,node-name=d,writable=on'],
    ],
    { stdio: 'ignore' },
  );
  try {
    const deadline = Date.now() + 10_000;
    while (spawnSync('qemu-img', ['info', busy]).status === 0 && Date.now() < deadline) spawnSync('sleep', ['0.1']);
    assert.match(shoalFails('capture', '--disk', busy, '--store', store, '--image', 'x', '--type', 'multipart'), /busy\.qcow2 is in use by another program/);
  } finally {
    vm.kill('SIGKILL');
  }

  // Export: --out exists (kept as it was), an unknown format, an image of two disks.
  shoalOk('capture', '--disk', ctx.mbr.path, '--store', store, '--image', 'mbr', '--type', 'multipart');
  const out = join(ctx.dir, 'taken.qcow2');
  writeFileSync(out, 'precious');
  assert.match(
    shoalFails('export', '--store', store, '--image', 'mbr', '--format', 'qcow2', '--out', out),
    /--out .*taken\.qcow2 exists; give --force to replace it/,
  );
  assert.is(readFileSync(out, 'utf8'), 'precious');
  assert.match(shoalFails('export', '--store', store, '--image', 'mbr', '--format', 'vdi', '--out', join(ctx.dir, 'x.vdi')), /argument 'vdi' is invalid/);
  assert.not.ok(existsSync(join(ctx.dir, 'x.vdi')));
  shoalOk('capture', '--disk', ctx.mbr.path, '--disk', ctx.gpt.path, '--store', store, '--image', 'two', '--type', 'alldisks');
  assert.match(shoalFails('export', '--store', store, '--image', 'two', '--format', 'qcow2', '--out', join(ctx.dir, 'two.qcow2')), /holds 2 disks/);
  // Too small for the image: the deploy's own check, and no half-written file.
  const small = join(ctx.dir, 'small.vhd');
  assert.match(shoalFails('export', '--store', store, '--image', 'mbr', '--format', 'vhd', '--out', small, '--size', '100M'), /too small|does not fit|smaller/);
  assert.not.ok(existsSync(small));
  assertNothingLeft(ctx, small);
  // A deploy writes raw disks: onto a golden VM disk it is refused, the file untouched.
  const golden = vmDisk(ctx.gpt.path, join(ctx.dir, 'golden-target.qcow2'), 'qcow2');
  const goldenHash = hash(golden);
  assert.match(
    shoalFails('deploy', '--store', store, '--image', 'mbr', '--disk', golden),
    /golden-target\.qcow2 is a qcow2 file; a deploy would overwrite it as a raw disk \(write a qcow2 file with: shoal export --format qcow2\)/,
  );
  assert.is(hash(golden), goldenHash);
  // --force replaces.
  shoalOk('export', '--store', store, '--image', 'mbr', '--format', 'qcow2', '--out', out, '--force');
  assert.is((JSON.parse(sh('qemu-img', ['info', '--output=json', out])) as { format: string }).format, 'qcow2');
});

T('Ctrl-C during a resizable capture from a qcow2 and during an export: the file unchanged, nothing left behind', async (ctx) => {
  const cli = fileURLToPath(new URL('../../client/cli.js', import.meta.url));
  const interrupt = async (args: string[], when: () => boolean): Promise<{ code: number | null; stderr: string }> => {
    const child = spawn(process.execPath, [cli, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    const deadline = Date.now() + 60_000;
    while (!when() && child.exitCode === null && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    child.kill('SIGINT');
    return { code: await exited, stderr };
  };
  const exported = () => readFileSync('/proc/mounts', 'utf8').includes('.shoal-vm-');
  const vm = vmDisk(ctx.gpt.path, join(ctx.dir, 'interrupted.qcow2'), 'qcow2');
  const before = hash(vm);
  // Once qemu exports the file and the shrink has had time to start.
  let seen = 0;
  const r = await interrupt(['capture', '--disk', vm, '--store', ctx.store, '--image', 'cut', '--type', 'resizable'], () => exported() && ++seen > 25);
  assert.is(r.code, 130, r.stderr);
  assert.is(hash(vm), before, 'the qcow2 is unchanged');
  assertNothingLeft(ctx);
  const out = join(ctx.dir, 'interrupted-export.vhdx');
  const e = await interrupt(
    ['export', '--store', ctx.store, '--image', 'gpt-qcow2', '--format', 'vhdx', '--out', out],
    () => existsSync(`${out}.partial.qcow2`) && exported(),
  );
  assert.is(e.code, 130, e.stderr);
  assert.not.ok(existsSync(out));
  assertNothingLeft(ctx, out);
  // A failure is not a Ctrl-C: shoal() exits on its own with the error (sanity check of the helper).
  assert.is(shoal('export', '--store', ctx.store, '--image', 'nope', '--format', 'raw', '--out', out).code, 1);
});

T.run();
