/**
 * A real operating system on a disk-image file, for the tests that must prove a deployed disk
 * *boots*: comparing bytes proves Shoal copied what it read, not that what it wrote is still a
 * bootable PC (boot sectors, the BIOS boot partition, the ESP, filesystem UUIDs that GRUB, the
 * initramfs and fstab look for). So this is a minimal Debian 12 built the way a lab's reference PC
 * is: Debian's signed shim, GRUB and kernel (the UEFI firmware enforces Secure Boot in the tests),
 * GRUB for BIOS in the BIOS boot partition or the post-MBR gap, root and swap mounted by UUID. On
 * its first boot it reports what it sees on the serial console and powers off (boot-vm.ts).
 *
 * Built from Debian's mirror with mmdebstrap (the only network these machines reach; no cloud
 * image to download), by hand rather than by an installer, because the build machine's kernel scans
 * no partition tables on loop devices and has no vfat driver: every partition gets its own loop
 * device over its byte range, and the ESP is a FAT image written with mtools and copied in.
 * Building takes minutes, so the root filesystem and the finished disks are cached, keyed by
 * everything that goes into them.
 */
import { execFileSync, spawn } from 'node:child_process';
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import {
  chmodSync,
  closeSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  symlinkSync,
  truncateSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export type TestOsLayout = 'gpt' | 'mbr-logical';

export interface DebianDiskOptions {
  layout: TestOsLayout;
  /** Default /var/cache/shoal-test-os. */
  cacheDir?: string;
  /**
   * gpt only. true (default): shim also at the removable-media path EFI/BOOT/BOOTX64.EFI, which
   * UEFI firmware boots without a boot entry. false: only EFI/debian/, so the PC boots with UEFI
   * only once something has created a boot entry (efibootmgr), as on an installed PC.
   */
  removablePath?: boolean;
}

const MiB = 1024 * 1024;
const DEFAULT_CACHE = '/var/cache/shoal-test-os';
export const TEST_OS_HOSTNAME = 'shoal-test-os';

/**
 * What goes into the root filesystem. Changing anything here changes the cache key, so the next
 * call builds anew. minbase (no `important`/`standard` packages) plus what boots and reports.
 */
const ROOTFS_RECIPE = {
  version: 1,
  suite: 'bookworm',
  variant: 'minbase',
  mirrors: [
    'deb http://deb.debian.org/debian bookworm main',
    'deb http://deb.debian.org/debian bookworm-updates main',
    'deb http://deb.debian.org/debian-security bookworm-security main',
  ],
  // udev: /dev/disk/by-uuid, which the initramfs and fstab mount by. grub-pc-bin rather than
  // grub-pc: grub-pc's maintainer scripts want to install GRUB to a disk the chroot has not got;
  // we install it ourselves. grub-efi-amd64-signed without grub-efi-amd64, for the same reason.
  packages: ['linux-image-amd64', 'systemd-sysv', 'udev', 'initramfs-tools', 'e2fsprogs', 'shim-signed', 'grub-efi-amd64-signed', 'grub-pc-bin'],
  options: [
    // usr-is-merged instead of usrmerge, which would pull in Perl (~50 MB).
    '--hook-dir=/usr/share/mmdebstrap/hooks/merged-usr',
    // No swap partition exists while the initramfs is built: do not look for one to resume from.
    '--setup-hook=mkdir -p "$1/etc/initramfs-tools/conf.d" && echo RESUME=none > "$1/etc/initramfs-tools/conf.d/resume"',
    ...['/usr/share/doc/*', '/usr/share/man/*', '/usr/share/info/*', '/usr/share/locale/*'].map((p) => `--dpkgopt=path-exclude=${p}`),
    '--dpkgopt=path-include=/usr/share/doc/*/copyright',
    // Hardware a test VM (or a lab PC's disk) never needs at boot: ~170 MB of the kernel's 400 MB.
    ...[
      'drivers/gpu',
      'drivers/media',
      'drivers/infiniband',
      'drivers/iio',
      'drivers/staging',
      'drivers/comedi',
      'drivers/net/wireless',
      'drivers/bluetooth',
      'drivers/isdn',
      'drivers/atm',
      'sound',
      'net/wireless',
      'net/mac80211',
      'net/bluetooth',
    ].map((d) => `--dpkgopt=path-exclude=/lib/modules/*/kernel/${d}/*`),
  ],
};

/** Partition sizes; part of the disk cache key. */
const DISK_RECIPE = { version: 1, rootMiB: 1024, espMiB: 64, swapMiB: 64, biosBootMiB: 1 };

const GPT = {
  biosBoot: '21686148-6449-6E6F-744E-656564454649',
  esp: 'C12A7328-F81F-11D2-BA4B-00A0C93EC93B',
  linux: '0FC63DAF-8483-4772-8E79-3D69D8477DE4',
  swap: '0657FD6D-A4AB-43C4-84E5-0933C84B4F4F',
};

/**
 * The guest's report: one line on the serial console once root, swap and the machine id are
 * settled, then power off, so a VM that boots is a VM that exits. Plain sh and coreutils: minbase
 * has no findmnt, awk or mokutil.
 */
const REPORT_SCRIPT = `#!/bin/sh
# Tells the host (boot-vm.ts) over the serial console that this disk booted, then powers off.
set -u
set -- $(stat -f -c '%b %S' /)
root_fs_bytes=$(( $1 * $2 ))
majmin=
while read -r _id _parent mm _root mp _rest; do
  [ "$mp" = / ] && majmin=$mm
done < /proc/self/mountinfo
root_dev=$(basename "$(readlink -f "/sys/dev/block/$majmin")")
root_part_bytes=$(( $(cat "/sys/dev/block/$majmin/size") * 512 ))
root_uuid=
for l in /dev/disk/by-uuid/*; do
  [ "$(readlink -f "$l")" = "/dev/$root_dev" ] && root_uuid=$(basename "$l")
done
swap=$(( $(wc -l < /proc/swaps) - 1 ))
if [ -d /sys/firmware/efi ]; then
  firmware=uefi
  sb=/sys/firmware/efi/efivars/SecureBoot-8be4df61-93ca-11d2-aa0d-00e098032b8c
  # 4 bytes of attributes, then the variable's one byte.
  if [ -r "$sb" ]; then secure_boot=$(od -An -tu1 -j4 -N1 "$sb" | tr -d ' '); else secure_boot=unknown; fi
else
  firmware=bios
  secure_boot=0
fi
if grep -q ' /boot/efi ' /proc/self/mounts; then esp=mounted; else esp=none; fi
printf '\\nSHOAL-OS-UP root_fs_bytes=%s root_part_bytes=%s swap=%s hostname=%s machine_id=%s secure_boot=%s firmware=%s root_dev=%s root_uuid=%s esp=%s kernel=%s\\n' \\
  "$root_fs_bytes" "$root_part_bytes" "$swap" "$(cat /proc/sys/kernel/hostname)" "$(cat /etc/machine-id)" "$secure_boot" "$firmware" \\
  "$root_dev" "$root_uuid" "$esp" "$(uname -r)" > /dev/ttyS0
systemctl --no-block poweroff
`;

const REPORT_UNIT = `[Unit]
Description=Shoal test OS: report on the serial console that the system is up, then power off
# boot-efi.mount: nofail leaves the ESP's mount unordered against local-fs.target.
After=local-fs.target swap.target boot-efi.mount systemd-machine-id-commit.service

[Service]
Type=oneshot
ExecStart=/usr/local/sbin/shoal-os-up

[Install]
WantedBy=multi-user.target
`;

const sha = (s: string): string => createHash('sha256').update(s).digest('hex').slice(0, 16);
const sh = (cmd: string, args: string[], input?: string): string =>
  execFileSync(cmd, args, { input, encoding: 'utf8', stdio: ['pipe', 'pipe', 'pipe'], maxBuffer: 64 * MiB });

export const rootfsKey = (): string => sha(JSON.stringify(ROOTFS_RECIPE));
/** The disks are keyed by this module's own code as well: how they are put together lives here. */
const diskKey = (layout: TestOsLayout, removablePath: boolean): string =>
  sha(JSON.stringify({ rootfs: rootfsKey(), DISK_RECIPE, layout, removablePath, code: readFileSync(fileURLToPath(import.meta.url), 'utf8') }));

/**
 * The path of a cached raw disk image with the test OS. It is the cache's own file: callers must
 * copy it (copyDisk) and boot or deploy the copy. A cached image whose modification time changed
 * since it was built is rebuilt rather than handed out.
 */
export async function debianDisk(o: DebianDiskOptions): Promise<string> {
  const cacheDir = o.cacheDir ?? DEFAULT_CACHE;
  const removablePath = o.layout === 'gpt' ? (o.removablePath ?? true) : false;
  mkdirSync(cacheDir, { recursive: true });
  const name = `disk-${o.layout}${o.layout === 'gpt' && !removablePath ? '-noremovable' : ''}`;
  const image = join(cacheDir, `${name}-${diskKey(o.layout, removablePath)}.img`);
  const manifest = `${image}.json`;
  try {
    const m = JSON.parse(readFileSync(manifest, 'utf8')) as { mtimeMs: number; size: number };
    const st = statSync(image);
    if (st.mtimeMs === m.mtimeMs && st.size === m.size) return image;
  } catch {
    /* not built, or built and then written to */
  }
  const rootfs = await debianRootfs(cacheDir);
  const partial = join(cacheDir, `.partial-${process.pid}-${randomBytes(4).toString('hex')}.img`);
  try {
    buildDisk(partial, o.layout, removablePath, rootfs);
    // Read-only as a reminder (root ignores it): the cache's copy is never booted.
    chmodSync(partial, 0o444);
    renameSync(partial, image);
  } finally {
    rmSync(partial, { force: true });
  }
  const st = statSync(image);
  writeFileSync(manifest, JSON.stringify({ mtimeMs: st.mtimeMs, size: st.size, recipe: DISK_RECIPE, layout: o.layout, removablePath }));
  prune(cacheDir, new RegExp(`^${name}-[0-9a-f]{16}\\.img(\\.json)?$`), image);
  return image;
}

/** A private, writable copy of a cached image (sparse: only the used blocks take space). */
export function copyDisk(src: string, dest: string): string {
  sh('cp', ['--sparse=always', '--reflink=auto', src, dest]);
  chmodSync(dest, 0o644);
  return dest;
}

/** The root filesystem as a zstd tarball from mmdebstrap, cached by recipe. */
export async function debianRootfs(cacheDir = DEFAULT_CACHE): Promise<string> {
  const tarball = join(cacheDir, `rootfs-${rootfsKey()}.tar.zst`);
  if (existsSync(tarball)) return tarball;
  mkdirSync(cacheDir, { recursive: true });
  const partial = join(cacheDir, `.partial-${process.pid}-${randomBytes(4).toString('hex')}.tar.zst`);
  const log = `${tarball}.log`;
  const r = ROOTFS_RECIPE;
  const args = [`--variant=${r.variant}`, '--mode=root', '--format=tar', `--include=${r.packages.join(',')}`, ...r.options, r.suite, partial, ...r.mirrors];
  const fd = openSync(log, 'w');
  try {
    const code = await new Promise<number | null>((resolve, reject) => {
      const child = spawn('mmdebstrap', args, { stdio: ['ignore', fd, fd] });
      child.once('error', reject);
      child.once('exit', resolve);
    });
    if (code !== 0) throw new Error(`mmdebstrap failed (exit ${code}); its log, ${log}, ends:\n${readFileSync(log, 'utf8').slice(-3000)}`);
    renameSync(partial, tarball);
  } finally {
    closeSync(fd);
    rmSync(partial, { force: true });
  }
  prune(cacheDir, /^rootfs-[0-9a-f]{16}\.tar\.zst(\.log)?$/, tarball);
  return tarball;
}

/** Older builds of the same thing (another recipe or code): half a GiB each. */
function prune(cacheDir: string, same: RegExp, keep: string): void {
  for (const f of readdirSync(cacheDir)) if (same.test(f) && !f.startsWith(basename(keep))) rmSync(join(cacheDir, f), { force: true });
}

export interface PartitionInfo {
  number: number;
  start: number;
  size: number;
  type: string;
}

/** The partitions of a disk-image file, in bytes, from sfdisk. */
export function partitionsOf(disk: string): PartitionInfo[] {
  const t = JSON.parse(sh('sfdisk', ['--json', disk])) as {
    partitiontable: { sectorsize?: number; partitions: Array<{ node: string; start: number; size: number; type: string }> };
  };
  const sector = t.partitiontable.sectorsize ?? 512;
  return t.partitiontable.partitions.map((p) => ({ number: Number(/(\d+)$/.exec(p.node)![1]), start: p.start * sector, size: p.size * sector, type: p.type }));
}

/** Loop devices and mounts made during one build; all undone by release(), whatever happened. */
class Held {
  private loops: string[] = [];
  private mounts: string[] = [];
  loop(file: string, offset?: number, size?: number): string {
    const args = ['--find', '--show'];
    if (offset !== undefined) args.push('--offset', String(offset));
    if (size !== undefined) args.push('--sizelimit', String(size));
    const dev = sh('losetup', [...args, file]).trim();
    this.loops.push(dev);
    return dev;
  }
  mount(dev: string, dir: string): void {
    sh('mount', [dev, dir]);
    this.mounts.push(dir);
  }
  release(): void {
    const errors: string[] = [];
    for (const m of this.mounts.splice(0).reverse()) {
      try {
        sh('umount', [m]);
      } catch (e) {
        try {
          sh('umount', ['-l', m]);
        } catch {
          errors.push(`umount ${m}: ${(e as Error).message}`);
        }
      }
    }
    for (const l of this.loops.splice(0).reverse()) {
      // A just-unmounted filesystem can keep its loop device busy for a moment.
      let ok = false;
      for (let i = 0; i < 50 && !ok; i++) {
        try {
          sh('losetup', ['--detach', l]);
          ok = true;
        } catch {
          execFileSync('sleep', ['0.1']);
        }
      }
      if (!ok) errors.push(`losetup --detach ${l} failed`);
    }
    if (errors.length) throw new Error(`test OS build: could not tear down: ${errors.join('; ')}`);
  }
}

function buildDisk(image: string, layout: TestOsLayout, removablePath: boolean, rootfs: string): void {
  const d = DISK_RECIPE;
  const rootUuid = randomUUID();
  const swapUuid = randomUUID();
  const espId = randomBytes(4).toString('hex').toUpperCase();
  let table: string;
  let totalMiB: number;
  if (layout === 'gpt') {
    // BIOS boot, ESP, root, swap; one MiB at the end for the backup GPT.
    totalMiB = 1 + d.biosBootMiB + d.espMiB + d.rootMiB + d.swapMiB + 1;
    const at = (mib: number) => mib * 2048;
    table = [
      'label: gpt',
      'unit: sectors',
      'first-lba: 2048',
      `start=${at(1)}, size=${at(d.biosBootMiB)}, type=${GPT.biosBoot}, name="BIOS boot"`,
      `start=${at(1 + d.biosBootMiB)}, size=${at(d.espMiB)}, type=${GPT.esp}, name="EFI system"`,
      `start=${at(1 + d.biosBootMiB + d.espMiB)}, size=${at(d.rootMiB)}, type=${GPT.linux}, name="root"`,
      `start=${at(1 + d.biosBootMiB + d.espMiB + d.rootMiB)}, size=${at(d.swapMiB)}, type=${GPT.swap}, name="swap"`,
    ].join('\n');
  } else {
    // An extended partition from 1 MiB (GRUB's core image in the gap before it) holding logical
    // root (5) and swap (6); sfdisk leaves a MiB before each logical partition for its EBR.
    totalMiB = 1 + 1 + d.rootMiB + 1 + d.swapMiB;
    table = ['label: dos', 'unit: sectors', 'start=2048, type=5', `size=${d.rootMiB * 2048}, type=83`, 'type=82'].join('\n');
  }
  closeSync(openSync(image, 'w'));
  truncateSync(image, totalMiB * MiB);
  sh('sfdisk', ['--quiet', '--no-reread', '--no-tell-kernel', image], table + '\n');
  const parts = partitionsOf(image);
  const part = (n: number): PartitionInfo => {
    const p = parts.find((x) => x.number === n);
    if (!p) throw new Error(`test OS build: partition ${n} missing: ${JSON.stringify(parts)}`);
    return p;
  };
  const [root, swap, esp] = layout === 'gpt' ? [part(3), part(4), part(2)] : [part(5), part(6), undefined];
  if (layout === 'mbr-logical' && swap.size < (d.swapMiB - 2) * MiB) throw new Error(`test OS build: swap too small: ${swap.size}`);

  const work = mkdtempSync(join(tmpdir(), 'shoal-test-os-'));
  const mnt = join(work, 'root');
  mkdirSync(mnt);
  const held = new Held();
  let built = false;
  try {
    const diskDev = held.loop(image);
    const rootDev = held.loop(image, root.start, root.size);
    const swapDev = held.loop(image, swap.start, swap.size);
    sh('mkfs.ext4', ['-q', '-F', '-L', 'shoal-root', '-U', rootUuid, '-E', 'lazy_itable_init=0,lazy_journal_init=0', rootDev]);
    sh('mkswap', ['-L', 'shoal-swap', '-U', swapUuid, swapDev]);
    held.mount(rootDev, mnt);
    sh('tar', ['--numeric-owner', '--xattrs', '--xattrs-include=*', '-I', 'zstd', '-xpf', rootfs, '-C', mnt]);
    const kernel = kernelVersion(mnt);
    writeGuestFiles(mnt, { rootUuid, swapUuid, espId: esp ? espId : undefined, kernel });
    // GRUB for BIOS: boot.img in the MBR, core.img in the BIOS boot partition (gpt) or the gap
    // before the first partition (mbr). The boot filesystem is on another loop device than the
    // disk, so grub-install's core finds it by UUID; the partition-table module must be named
    // because grub-probe sees the root's loop device as a whole disk. GRUB's modules come from the
    // guest, so the version matches the guest's own grub-pc-bin.
    sh('grub-install', [
      '--target=i386-pc',
      `--directory=${join(mnt, 'usr/lib/grub/i386-pc')}`,
      `--boot-directory=${join(mnt, 'boot')}`,
      `--modules=${layout === 'gpt' ? 'part_gpt' : 'part_msdos'} ext2 search_fs_uuid`,
      diskDev,
    ]);
    if (esp) writeEsp(image, esp, work, mnt, { espId, rootUuid, removablePath });
    sh('sync', ['-f', mnt]);
    built = true;
  } finally {
    try {
      held.release();
    } catch (e) {
      // Not in place of the error that stopped the build.
      // eslint-disable-next-line no-unsafe-finally -- only when the build itself succeeded
      if (built) throw e;
      console.error(String(e));
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
  }
  // A clean, checked filesystem is part of what the tests compare deployed disks against.
  sh('e2fsck', ['-f', '-n', `${image}?offset=${root.start}`]);
}

function kernelVersion(mnt: string): string {
  const k = readdirSync(join(mnt, 'boot'))
    .filter((f) => f.startsWith('vmlinuz-'))
    .map((f) => f.slice('vmlinuz-'.length));
  if (k.length !== 1) throw new Error(`test OS build: expected one kernel in /boot, found ${JSON.stringify(k)}`);
  return k[0]!;
}

/** GRUB's menu on the root filesystem: straight to the kernel, serial console for BIOS. */
function grubCfg(rootUuid: string, kernel: string): string {
  return `# Written by Shoal's test OS build (scripts/test-os/debian-disk.ts), not grub-mkconfig.
set timeout=0
set default=0
if [ "$grub_platform" = pc ]; then
  serial --unit=0 --speed=115200
  terminal_input serial console
  terminal_output serial console
fi
menuentry 'Debian GNU/Linux 12 (Shoal test OS)' {
  search --no-floppy --fs-uuid --set=root ${rootUuid}
  echo 'Loading Linux ${kernel} ...'
  linux /boot/vmlinuz-${kernel} root=UUID=${rootUuid} ro console=tty0 console=ttyS0,115200 systemd.firstboot=off
  echo 'Loading initial ramdisk ...'
  initrd /boot/initrd.img-${kernel}
}
`;
}

function writeGuestFiles(mnt: string, g: { rootUuid: string; swapUuid: string; espId: string | undefined; kernel: string }): void {
  const put = (path: string, text: string, mode = 0o644) => {
    mkdirSync(dirname(join(mnt, path)), { recursive: true });
    writeFileSync(join(mnt, path), text, { mode });
    chmodSync(join(mnt, path), mode);
  };
  const esp = g.espId ? `${g.espId.slice(0, 4)}-${g.espId.slice(4)}` : undefined;
  put(
    'etc/fstab',
    [
      '# <file system> <mount point> <type> <options> <dump> <pass>',
      `UUID=${g.rootUuid} / ext4 errors=remount-ro 0 1`,
      ...(esp ? [`UUID=${esp} /boot/efi vfat umask=0077,nofail 0 0`] : []),
      `UUID=${g.swapUuid} none swap sw 0 0`,
      '',
    ].join('\n'),
  );
  if (esp) mkdirSync(join(mnt, 'boot/efi'), { recursive: true });
  put('etc/hostname', `${TEST_OS_HOSTNAME}\n`);
  put('etc/hosts', `127.0.0.1\tlocalhost\n127.0.1.1\t${TEST_OS_HOSTNAME}\n::1\tlocalhost ip6-localhost ip6-loopback\n`);
  // Empty: each PC the image is deployed to makes its own on first boot (mmdebstrap leaves it so).
  put('etc/machine-id', '');
  rmSync(join(mnt, 'var/lib/dbus/machine-id'), { force: true });
  put('usr/local/sbin/shoal-os-up', REPORT_SCRIPT, 0o755);
  put('etc/systemd/system/shoal-os-up.service', REPORT_UNIT);
  const wants = join(mnt, 'etc/systemd/system/multi-user.target.wants');
  mkdirSync(wants, { recursive: true });
  symlinkSync('/etc/systemd/system/shoal-os-up.service', join(wants, 'shoal-os-up.service'));
  // Nobody logs in: no getty on the serial line to write over the report; no first-boot prompts.
  for (const unit of ['getty.target', 'systemd-firstboot.service']) symlinkSync('/dev/null', join(mnt, 'etc/systemd/system', unit));
  put('boot/grub/grub.cfg', grubCfg(g.rootUuid, g.kernel));
}

/**
 * The ESP, made as a separate FAT image with mkfs.vfat and mtools (no vfat driver on the build
 * machine) and copied into its partition. Debian's signed shim and GRUB from the guest's packages.
 * No fbx64.efi beside the removable-path shim: shim would run it, and it creates a boot entry and
 * resets the VM, which -no-reboot turns into an exit.
 */
function writeEsp(image: string, esp: PartitionInfo, work: string, mnt: string, o: { espId: string; rootUuid: string; removablePath: boolean }): void {
  const fat = join(work, 'esp.img');
  closeSync(openSync(fat, 'w'));
  truncateSync(fat, esp.size);
  sh('mkfs.vfat', ['-F', '32', '-n', 'EFI', '-i', o.espId, fat]);
  const shim = join(mnt, 'usr/lib/shim/shimx64.efi.signed');
  const mm = join(mnt, 'usr/lib/shim/mmx64.efi.signed');
  const grub = join(mnt, 'usr/lib/grub/x86_64-efi-signed/grubx64.efi.signed');
  // Debian's signed GRUB has its prefix at /EFI/debian and reads grub.cfg from there (or from the
  // directory it was loaded from): find the root by UUID and hand over to its /boot/grub/grub.cfg.
  const cfg = join(work, 'grub.cfg');
  writeFileSync(cfg, `search --no-floppy --fs-uuid --set=root ${o.rootUuid}\nset prefix=($root)/boot/grub\nconfigfile $prefix/grub.cfg\n`);
  // What shim's fallback would recreate the boot entry from, as Debian's grub-install leaves it.
  const csv = join(mnt, 'usr/lib/shim/BOOTX64.CSV');
  const m = (args: string[]) => sh(args[0]!, ['-i', fat, ...args.slice(1)]);
  m(['mmd', '::/EFI', '::/EFI/debian']);
  m(['mcopy', shim, '::/EFI/debian/shimx64.efi']);
  m(['mcopy', grub, '::/EFI/debian/grubx64.efi']);
  m(['mcopy', mm, '::/EFI/debian/mmx64.efi']);
  m(['mcopy', cfg, '::/EFI/debian/grub.cfg']);
  m(['mcopy', csv, '::/EFI/debian/BOOTX64.CSV']);
  if (o.removablePath) {
    m(['mmd', '::/EFI/BOOT']);
    m(['mcopy', shim, '::/EFI/BOOT/BOOTX64.EFI']);
    m(['mcopy', grub, '::/EFI/BOOT/grubx64.efi']);
    m(['mcopy', mm, '::/EFI/BOOT/mmx64.efi']);
    m(['mcopy', cfg, '::/EFI/BOOT/grub.cfg']);
  }
  sh('fsck.vfat', ['-n', fat]);
  sh('dd', [`if=${fat}`, `of=${image}`, 'bs=1M', `seek=${esp.start}`, 'oflag=seek_bytes', 'conv=notrunc,sparse', 'status=none']);
}
