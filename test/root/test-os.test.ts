/**
 * The reference for the deploy boot tests: the test OS (scripts/test-os/debian-disk.ts), a minimal
 * Debian 12 on a disk-image file, boots as built, before Shoal touches it. A deploy boot test that
 * fails then points at the deploy, not at the OS, the firmware or the emulator; and the reports
 * here are what a deployed disk's reports are compared with.
 *
 * What it proves, booting only from the disk (no kernel handed to qemu, no network):
 *   - gpt + BIOS: GRUB's boot sector, its core image in the BIOS boot partition, /boot/grub;
 *   - gpt + UEFI with Secure Boot enforced (OVMF, Microsoft's keys): shim at the removable path on
 *     the ESP, Debian's signed GRUB and kernel, and the kernel itself sees Secure Boot on;
 *   - mbr-logical + BIOS: GRUB in the post-MBR gap, root in a logical partition;
 * and each time that the root was found and mounted by UUID, the swap by UUID, the hostname set,
 * a fresh machine id made (the image carries none), and that the guest powered itself off.
 *
 * Slow: the first run builds the root filesystem from Debian's mirror (~2 min, cached in
 * /var/cache/shoal-test-os), and each boot is software emulation (~1 min).
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { cleanup, fsIdentity, sh, workDir } from './fixtures.js';
import { copyDisk, debianDisk, partitionsOf, type TestOsLayout } from '../../scripts/test-os/debian-disk.js';
import { bootDisk, type TestOsFirmware } from '../../scripts/test-os/boot-vm.js';
import { assertBooted } from './boot-report.js';

const BOOT_TIMEOUT_MS = 4 * 60_000;
const CACHE = '/var/cache/shoal-test-os';

const T = suite('test OS: a real Debian on a disk image boots');
T.after(() => cleanup());

const machineIds: string[] = [];

/** No loop device over the cache's files and no build mount left by debianDisk. */
function assertBuildLeftNothing(): void {
  assert.equal(sh('losetup', ['--list', '--noheadings', '--output', 'BACK-FILE']).split('\n').filter((l) => l.includes(CACHE)), [], 'no loop device left');
  assert.equal(readFileSync('/proc/mounts', 'utf8').split('\n').filter((l) => l.includes('shoal-test-os-')), [], 'no mount left');
}

T('both layouts build, and the second call comes from the cache', async () => {
  for (const layout of ['gpt', 'mbr-logical'] as const) {
    const first = Date.now();
    const disk = await debianDisk({ layout });
    const built = (Date.now() - first) / 1000;
    const again = Date.now();
    assert.is(await debianDisk({ layout }), disk);
    const cached = (Date.now() - again) / 1000;
    assert.ok(cached < 5, `cached call took ${cached} s`);
    const parts = partitionsOf(disk);
    const used = Number(execFileSync('du', ['--block-size=1', disk], { encoding: 'utf8' }).split('\t')[0]);
    console.log(`  ${layout}: ${disk}: ${parts.length} partitions, ${(parts.at(-1)!.start + parts.at(-1)!.size) / 2 ** 20} MiB, ${(used / 2 ** 20).toFixed(0)} MiB allocated; first call ${built.toFixed(1)} s, cached ${cached.toFixed(2)} s`);
  }
  assertBuildLeftNothing();
});

T('removablePath: false puts shim only at EFI/debian', async () => {
  const disk = await debianDisk({ layout: 'gpt', removablePath: false });
  const esp = partitionsOf(disk).find((p) => p.number === 2)!;
  const list = (dir: string) => execFileSync('mdir', ['-b', '-i', `${disk}@@${esp.start}`, dir], { encoding: 'utf8' });
  assert.match(list('::/EFI/debian'), /shimx64\.efi/i);
  assert.match(list('::/EFI/debian'), /grubx64\.efi/i);
  assert.not.match(list('::/EFI'), /BOOT\b/);
  assertBuildLeftNothing();
});

async function boots(layout: TestOsLayout, firmware: TestOsFirmware, rootPartition: number): Promise<void> {
  const dir = workDir();
  const disk = copyDisk(await debianDisk({ layout }), join(dir, 'disk.img'));
  const root = partitionsOf(disk).find((p) => p.number === rootPartition)!;
  const r = await bootDisk({ disk, firmware, timeoutMs: BOOT_TIMEOUT_MS, workDir: dir });
  console.log(`  ${layout} + ${firmware}: up in ${r.seconds.toFixed(0)} s (software emulation): ${JSON.stringify(r.report)}`);
  assertBooted(r, { firmware, rootDev: `vda${rootPartition}`, rootPartBytes: root.size, rootUuid: fsIdentity(disk, root.start, root.size).uuid });
  assert.not.ok(machineIds.includes(r.report.machine_id!), 'a machine id of its own: the image carries none');
  machineIds.push(r.report.machine_id!);
  rmSync(disk, { force: true });
}

// The three boots as built; os-boot.test.ts boots the same systems after capture and deploy.
T('gpt boots with BIOS', () => boots('gpt', 'bios', 3));
T('gpt boots with UEFI, Secure Boot enforced', () => boots('gpt', 'uefi-secure-boot', 3));
T('mbr-logical boots with BIOS', () => boots('mbr-logical', 'bios', 5));

T.run();
