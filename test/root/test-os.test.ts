/**
 * The test OS (scripts/test-os/debian-disk.ts), a minimal Debian 12 on a disk-image file that the
 * boot tests capture, deploy and boot: both layouts build (the first run builds the root filesystem
 * from Debian's mirror, ~2 min, cached in /var/cache/shoal-test-os), a second call comes from the
 * cache, nothing is left mounted or attached, and `removablePath: false` puts the loader only at
 * EFI/debian. Booting it is os-boot.test.ts's (resizable onto smaller and larger disks, BIOS and
 * UEFI with Secure Boot enforced, MBR with a logical root) and netboot.test.ts's (network boot,
 * deploy, reboot into it): every boot there is of a deployed disk.
 */
import { suite } from '../suite.js';
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { cleanup, sh } from './fixtures.js';
import { debianDisk, partitionsOf } from '../../scripts/test-os/debian-disk.js';

const CACHE = '/var/cache/shoal-test-os';

const T = suite('test OS: a real Debian on a disk image, built and cached');
T.after(() => cleanup());

/** No loop device over the cache's files and no build mount left by debianDisk. */
function assertBuildLeftNothing(): void {
  assert.equal(
    sh('losetup', ['--list', '--noheadings', '--output', 'BACK-FILE'])
      .split('\n')
      .filter((l) => l.includes(CACHE)),
    [],
    'no loop device left',
  );
  assert.equal(
    readFileSync('/proc/mounts', 'utf8')
      .split('\n')
      .filter((l) => l.includes('shoal-test-os-')),
    [],
    'no mount left',
  );
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
    console.log(
      `  ${layout}: ${disk}: ${parts.length} partitions, ${(parts.at(-1)!.start + parts.at(-1)!.size) / 2 ** 20} MiB, ${(used / 2 ** 20).toFixed(0)} MiB allocated; first call ${built.toFixed(1)} s, cached ${cached.toFixed(2)} s`,
    );
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

// Booting these systems is os-boot.test.ts's and netboot.test.ts's, after capture and deploy: BIOS
// and UEFI with Secure Boot enforced, GPT and MBR with a logical root (three boots here as built
// cost CI two and a half minutes more and proved nothing those do not).

T.run();
