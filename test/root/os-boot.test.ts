/**
 * A deployed operating system boots. The test OS (scripts/test-os: a minimal Debian 12 with GRUB
 * for BIOS and UEFI, shim and Debian's signed kernel, root and swap by UUID) is captured with
 * `shoal capture` and deployed with `shoal deploy`, then the target disk alone is powered on in
 * qemu (software emulation, no kernel handed to it) until the system reports on its serial console:
 *   - resizable onto a smaller disk, BIOS: GRUB's core in the BIOS boot partition moved with it,
 *     the root grown to fill its new partition;
 *   - resizable onto a larger disk, UEFI with Secure Boot enforced: shim and the signed chain from
 *     the ESP, the root grown;
 *   - multipart of an MBR disk whose root is a logical partition, BIOS: GRUB in the post-MBR gap;
 *   - the resizable image written as a qcow2 by `shoal export`, BIOS: the VM disk file boots as is.
 * The same systems as built boot in test-os.test.ts: a failure here is the deploy's.
 */
import { suite } from '../suite.js';
import { join } from 'node:path';
import { statSync } from 'node:fs';
import { blankDisk, cleanup, fsIdentity, MiB, workDir } from './fixtures.js';
import { shoalOk } from './cli.js';
import { assertBooted } from './boot-report.js';
import { copyDisk, debianDisk, partitionsOf, type TestOsLayout } from '../../scripts/test-os/debian-disk.js';
import { bootDisk, type TestOsFirmware } from '../../scripts/test-os/boot-vm.js';
import { exposeDisk } from '../../client/vm/storage-daemon.js';

const BOOT_TIMEOUT_MS = 4 * 60_000;
/** A resized root filesystem fills at least this share of its partition (ext4 keeps some for itself). */
const FILLS = 0.9;

const T = suite<{ dir: string; store: string }>('a deployed operating system boots');

T.before(async (ctx) => {
  ctx.dir = workDir();
  ctx.store = join(ctx.dir, 'store');
  const capture = async (layout: TestOsLayout, image: string, type: string): Promise<void> => {
    const source = copyDisk(await debianDisk({ layout }), join(ctx.dir, `${image}-source.img`));
    shoalOk('capture', '--disk', source, '--store', ctx.store, '--image', image, '--type', type);
  };
  await capture('gpt', 'debian', 'resizable');
  await capture('mbr-logical', 'debian-mbr', 'multipart');
});
T.after(() => cleanup());

async function deployAndBoot(
  ctx: { dir: string; store: string },
  o: { image: string; diskMiB: number; firmware: TestOsFirmware; rootPartition: number; resized: boolean },
): Promise<void> {
  const target = blankDisk(join(ctx.dir, `${o.image}-${o.diskMiB}.img`), o.diskMiB * MiB);
  shoalOk('deploy', '--store', ctx.store, '--image', o.image, '--disk', target);
  const root = partitionsOf(target).find((p) => p.number === o.rootPartition)!;
  const rootUuid = fsIdentity(target, root.start, root.size).uuid;
  const r = await bootDisk({ disk: target, firmware: o.firmware, timeoutMs: BOOT_TIMEOUT_MS, workDir: ctx.dir });
  console.log(
    `  ${o.image} on ${o.diskMiB} MiB, ${o.firmware}: up in ${r.seconds.toFixed(0)} s; root ${(Number(r.report.root_fs_bytes) / MiB).toFixed(0)} MiB in a ${(root.size / MiB).toFixed(0)} MiB partition`,
  );
  assertBooted(r, {
    firmware: o.firmware,
    rootDev: `vda${o.rootPartition}`,
    rootPartBytes: root.size,
    rootUuid,
    ...(o.resized && { rootFillsAtLeast: FILLS }),
  });
}

T('resizable onto a smaller disk (1000 MiB, built on 1154 MiB) boots with BIOS, its root grown to fill its partition', (ctx) =>
  deployAndBoot(ctx, { image: 'debian', diskMiB: 1000, firmware: 'bios', rootPartition: 3, resized: true }),
);

T('resizable onto a larger disk (2048 MiB) boots with UEFI, Secure Boot enforced, its root grown to fill its partition', (ctx) =>
  deployAndBoot(ctx, { image: 'debian', diskMiB: 2048, firmware: 'uefi-secure-boot', rootPartition: 3, resized: true }),
);

T('an MBR disk whose root is a logical partition (GRUB in the post-MBR gap) boots with BIOS after a multipart deploy', (ctx) =>
  deployAndBoot(ctx, { image: 'debian-mbr', diskMiB: 1200, firmware: 'bios', rootPartition: 5, resized: false }),
);

T('exported as qcow2 (shoal export), the resizable image boots with BIOS from the qcow2 file itself', async (ctx) => {
  const disk = join(ctx.dir, 'debian.qcow2');
  const t0 = Date.now();
  shoalOk('export', '--store', ctx.store, '--image', 'debian', '--format', 'qcow2', '--out', disk);
  const exportSeconds = (Date.now() - t0) / 1000;
  // The partition and root UUID the guest must report, read through Shoal's own qcow2 reader.
  const view = await exposeDisk(disk, 'qcow2', { kind: 'read-only' }, ctx.dir);
  let root: { start: number; size: number };
  let rootUuid: string;
  try {
    root = partitionsOf(view.rawPath).find((p) => p.number === 3)!;
    rootUuid = fsIdentity(view.rawPath, root.start, root.size).uuid;
  } finally {
    await view.close();
  }
  const r = await bootDisk({ disk, format: 'qcow2', firmware: 'bios', timeoutMs: BOOT_TIMEOUT_MS, workDir: ctx.dir });
  console.log(
    `  debian exported as qcow2 in ${exportSeconds.toFixed(1)} s (${(statSync(disk).blocks / 2048).toFixed(0)} MiB of file): up in ${r.seconds.toFixed(0)} s`,
  );
  assertBooted(r, { firmware: 'bios', rootDev: 'vda3', rootPartBytes: root.size, rootUuid, rootFillsAtLeast: FILLS });
});

T.run();
