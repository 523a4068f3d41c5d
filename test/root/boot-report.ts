/**
 * What a booted test OS must have said (scripts/test-os): the checks that make "it boots" mean the
 * system came up whole, not that a kernel started. Shared by the test OS's own tests and the tests
 * that boot deployed disks.
 */
import * as assert from 'uvu/assert';
import { TEST_OS_HOSTNAME } from '../../scripts/test-os/debian-disk.js';
import { secureBootEnforced, type BootResult, type TestOsFirmware } from '../../scripts/test-os/boot-vm.js';

export interface BootExpected {
  firmware: TestOsFirmware;
  /** The root's partition as the guest sees it (vda3) and its size, and its filesystem's UUID. */
  rootDev: string;
  rootPartBytes: number;
  rootUuid: string;
  /** The root filesystem fills its partition (a resizable deploy grew it): at least this share of it. */
  rootFillsAtLeast?: number;
  /** The name and machine-id a deploy gave this PC (default: the test OS's own name, a machine-id systemd made). */
  hostname?: string;
  machineId?: string;
}

export function assertBooted(r: BootResult, want: BootExpected): void {
  const n = (k: string): number => Number(r.report[k]);
  assert.is(r.report.root_dev, want.rootDev);
  assert.is(n('root_part_bytes'), want.rootPartBytes, 'the root is the partition expected');
  assert.ok(n('root_fs_bytes') > 0 && n('root_fs_bytes') <= want.rootPartBytes, `root_fs_bytes ${r.report.root_fs_bytes}`);
  if (want.rootFillsAtLeast) {
    assert.ok(
      n('root_fs_bytes') >= want.rootFillsAtLeast * want.rootPartBytes,
      `the root filesystem (${r.report.root_fs_bytes} bytes) fills its partition (${want.rootPartBytes})`,
    );
  }
  assert.is(r.report.root_uuid, want.rootUuid, 'root mounted from the filesystem with the UUID captured');
  assert.is(r.report.swap, '1', 'swap found by UUID');
  assert.is(r.report.hostname, want.hostname ?? TEST_OS_HOSTNAME);
  assert.match(r.report.machine_id ?? '', /^[0-9a-f]{32}$/);
  if (want.machineId) assert.is(r.report.machine_id, want.machineId, 'the system runs with the machine-id the deploy wrote');
  if (want.firmware === 'uefi-secure-boot') {
    assert.is(r.report.firmware, 'uefi');
    assert.is(r.report.secure_boot, '1', 'the firmware says Secure Boot is on');
    assert.ok(secureBootEnforced(r.serial), 'the kernel says Secure Boot is enforced and locked itself down');
    assert.is(r.report.esp, 'mounted', 'the ESP mounted by its volume id');
  } else {
    assert.is(r.report.firmware, 'bios');
  }
  assert.ok(r.poweredOff, 'the guest powered itself off');
}
