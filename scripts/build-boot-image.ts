/**
 * npm run build:boot (root, Debian) — the PC's boot image and first-stage boot files, in dist/boot/:
 *   vmlinuz, initrd.img   Debian's signed kernel, and an initramfs with Node, the bundled Shoal client
 *                         (dist/pc/), its native zstd addon, every tool the client runs and the kernel
 *                         modules for common NICs and disk controllers; its /init is boot/init.sh
 *   undionly.kpxe         iPXE for legacy BIOS, ipxe.efi for UEFI without Secure Boot (Debian's ipxe)
 *   bootx64.efi           Debian's shim, signed by Microsoft; grubx64.efi Debian's signed network GRUB
 * The tools and Node are copied from this machine with the shared libraries they load (ldd), so the
 * image holds the same builds the tests ran; Debian packages that must not be installed on a build
 * host (a kernel, shim, GRUB) are fetched with `apt-get download` and unpacked into a cache.
 * Options: --out DIR (default dist/boot), --cache DIR (default .cache/boot).
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, copyFileSync, cpSync, existsSync, mkdirSync, readdirSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { bootInputsHash } from './boot-inputs.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const { values } = parseArgs({
  options: { out: { type: 'string', default: join(ROOT, 'dist/boot') }, cache: { type: 'string', default: join(ROOT, '.cache/boot') } },
});
const OUT = resolve(values.out);
const CACHE = resolve(values.cache);
const MiB = 1024 * 1024;

/** What the client runs, by the command it calls (client/*.ts `run(...)`), plus the init's own needs. */
const TOOLS = [
  'zstd',
  'fallocate',
  'lsblk',
  'swaplabel',
  'sgdisk',
  'sfdisk',
  'blockdev',
  'blkid',
  'wipefs',
  'e2fsck',
  'resize2fs',
  'tune2fs',
  'mke2fs',
  'dumpe2fs',
  'mkswap',
  'ntfs-3g',
  'ntfsresize',
  'ntfsfix',
  'ntfslabel',
  'mkfs.fat',
  'fsck.fat',
  'fatlabel',
  'mlabel',
  'minfo',
  'mtools',
  'xfs_growfs',
  'xfs_repair',
  'btrfs',
  'udp-receiver',
  'udp-sender',
  'kmod',
  'losetup',
  'fusermount',
  'efibootmgr',
  'hivexsh',
  'hivexget',
  'mdir',
];
/** Driver folders (under kernel/) whose modules go in: NICs and disk controllers of lab PCs and of qemu. */
const MODULE_DIRS = [
  'drivers/net/ethernet/intel',
  'drivers/net/ethernet/realtek',
  'drivers/net/ethernet/broadcom',
  'drivers/net/virtio_net.ko',
  'drivers/net/net_failover.ko',
  'net/core/failover.ko',
  'drivers/net/mii.ko',
  'drivers/net/phy',
  'drivers/net/mdio',
  'drivers/ata',
  'drivers/nvme',
  'drivers/scsi/sd_mod.ko',
  'drivers/scsi/virtio_scsi.ko',
  'drivers/scsi/scsi_common.ko',
  'drivers/scsi/scsi_mod.ko',
  'drivers/block/virtio_blk.ko',
  'drivers/block/loop.ko',
  'drivers/virtio',
  'drivers/usb/storage',
  'fs/ext4',
  'fs/jbd2',
  'fs/mbcache.ko',
  'fs/fuse',
  'fs/efivarfs',
  'fs/xfs',
  'fs/btrfs',
  'lib',
  'crypto',
  'arch/x86/crypto',
];
/** Kernel command-line-free defaults: the init loads these before it asks devices for aliases. */
const EARLY_MODULES = ['virtio_pci', 'virtio_net', 'virtio_blk', 'e1000', 'e1000e', 'ahci', 'ata_piix', 'sd_mod', 'nvme', 'fuse', 'ext4', 'loop'];

const sh = (cmd: string, args: string[], opts: { cwd?: string } = {}): string =>
  execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], ...opts });

/** Downloads a Debian package into the cache once and unpacks it; returns where. */
function debian(pkg: string): string {
  const into = join(CACHE, 'pkg', pkg);
  if (existsSync(join(into, '.unpacked'))) return into;
  mkdirSync(join(CACHE, 'debs'), { recursive: true });
  try {
    sh('apt-get', ['download', '-q', pkg], { cwd: join(CACHE, 'debs') });
  } catch {
    sh('apt-get', ['update', '-qq']);
    sh('apt-get', ['download', '-q', pkg], { cwd: join(CACHE, 'debs') });
  }
  const deb = readdirSync(join(CACHE, 'debs'))
    .filter((f) => f.startsWith(`${pkg}_`) && f.endsWith('.deb'))
    .sort()
    .pop();
  if (!deb) throw new Error(`apt-get download ${pkg} left no .deb (run apt-get update first)`);
  rmSync(into, { recursive: true, force: true });
  mkdirSync(into, { recursive: true });
  sh('dpkg-deb', ['-x', join(CACHE, 'debs', deb), into]);
  writeFileSync(join(into, '.unpacked'), deb);
  return into;
}

function which(tool: string): string | undefined {
  for (const d of ['/usr/sbin', '/usr/bin', '/sbin', '/bin']) if (existsSync(join(d, tool))) return join(d, tool);
  return undefined;
}

/** A file and, for an ELF binary, every shared library it loads, at the same paths under root. */
function copyWithLibs(root: string, file: string, done: Set<string>): void {
  const real = execFileSync('readlink', ['-f', file], { encoding: 'utf8' }).trim();
  if (done.has(file)) return;
  done.add(file);
  mkdirSync(join(root, dirname(file)), { recursive: true });
  copyFileSync(real, join(root, file));
  chmodSync(join(root, file), statSync(real).mode & 0o7777);
  let out: string;
  try {
    out = execFileSync('ldd', [real], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  } catch {
    return; // not dynamic
  }
  for (const m of out.matchAll(/(\/\S+) \(0x/g)) copyWithLibs(root, m[1]!, done);
}

function kernel(): { version: string; dir: string } {
  const meta = sh('apt-cache', ['depends', 'linux-image-amd64']);
  const pkg = /Depends: (linux-image-\S+-amd64)\b/.exec(meta)?.[1];
  if (!pkg) throw new Error('apt-cache knows no linux-image-amd64 (run apt-get update first)');
  const dir = debian(pkg);
  const version = readdirSync(join(dir, 'lib/modules'))[0]!;
  return { version, dir };
}

function copyModules(root: string, k: { version: string; dir: string }): void {
  const from = join(k.dir, 'lib/modules', k.version);
  const to = join(root, 'lib/modules', k.version);
  for (const d of MODULE_DIRS) {
    const src = join(from, 'kernel', d);
    if (!existsSync(src)) continue;
    mkdirSync(dirname(join(to, 'kernel', d)), { recursive: true });
    cpSync(src, join(to, 'kernel', d), { recursive: true });
  }
  for (const f of ['modules.order', 'modules.builtin', 'modules.builtin.modinfo']) if (existsSync(join(from, f))) copyFileSync(join(from, f), join(to, f));
  sh('depmod', ['-b', root, k.version]);
}

function buildInitramfs(k: { version: string; dir: string }): string {
  const root = join(CACHE, 'initramfs');
  rmSync(root, { recursive: true, force: true });
  for (const d of ['bin', 'sbin', 'usr/bin', 'usr/sbin', 'etc', 'proc', 'sys', 'dev', 'run', 'tmp', 'mnt', 'opt/shoal', 'var/lib/shoal', 'root'])
    mkdirSync(join(root, d), { recursive: true });
  // busybox for the init's shell, udhcpc, mount, ip; static so it needs nothing else.
  copyFileSync(join(debian('busybox-static'), 'bin/busybox'), join(root, 'bin/busybox'));
  chmodSync(join(root, 'bin/busybox'), 0o755);
  for (const applet of sh(join(root, 'bin/busybox'), ['--list']).split('\n').filter(Boolean)) {
    const at = join(root, 'bin', applet);
    if (!existsSync(at)) symlinkSync('busybox', at);
  }
  const done = new Set<string>();
  copyWithLibs(root, process.execPath, done);
  const missing: string[] = [];
  // Every filesystem partclone knows: capture and deploy pick the tool by the partition's type.
  const partclones = readdirSync('/usr/sbin').filter((f) => f.startsWith('partclone.'));
  if (!partclones.length) throw new Error('partclone is not installed (scripts/setup.sh installs it)');
  for (const t of [...partclones, ...TOOLS]) {
    const p = which(t);
    if (p) copyWithLibs(root, p, done);
    else missing.push(t);
  }
  if (missing.length) console.log(`not on this machine, left out: ${missing.join(', ')}`);
  for (const alias of ['modprobe', 'insmod', 'lsmod', 'depmod']) {
    rmSync(join(root, 'bin', alias), { force: true });
    symlinkSync('/usr/bin/kmod', join(root, 'bin', alias));
  }
  // The kernel loads what it finds it needs (ext4's crc32c for metadata checksums, a codepage) by
  // running /sbin/modprobe: without it, mounting a modern ext4 fails with "No such file".
  rmSync(join(root, 'sbin', 'modprobe'), { force: true });
  symlinkSync('/usr/bin/kmod', join(root, 'sbin', 'modprobe'));
  // ntfs-3g mounts through FUSE's helper; mtools reads its config, which may be absent.
  writeFileSync(join(root, 'etc/mtools.conf'), 'mtools_skip_check=1\n');
  // mtools converts FAT names through iconv from codepage 850: without glibc's gconv module for it,
  // every mtools command fails ("Error converting to codepage 850").
  const gconv = '/usr/lib/x86_64-linux-gnu/gconv';
  mkdirSync(join(root, gconv), { recursive: true });
  for (const f of ['gconv-modules', 'gconv-modules.cache', 'IBM850.so']) if (existsSync(join(gconv, f))) copyFileSync(join(gconv, f), join(root, gconv, f));
  if (existsSync(join(gconv, 'gconv-modules.d'))) cpSync(join(gconv, 'gconv-modules.d'), join(root, gconv, 'gconv-modules.d'), { recursive: true });
  writeFileSync(join(root, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/sh\n');
  writeFileSync(join(root, 'etc/group'), 'root:x:0:\n');
  copyModules(root, k);
  // The client: the bundle and the one native addon it loads, where its createRequire finds it.
  cpSync(join(ROOT, 'dist/pc'), join(root, 'opt/shoal'), { recursive: true });
  const zstd = join(ROOT, 'node_modules/zstd-napi');
  for (const f of ['package.json', 'binding.js', 'build/Release/binding.node']) {
    mkdirSync(dirname(join(root, 'opt/shoal/node_modules/zstd-napi', f)), { recursive: true });
    copyFileSync(join(zstd, f), join(root, 'opt/shoal/node_modules/zstd-napi', f));
  }
  writeFileSync(join(root, 'opt/shoal/package.json'), JSON.stringify({ type: 'module' }));
  copyFileSync(join(ROOT, 'scripts/boot/init.sh'), join(root, 'init'));
  chmodSync(join(root, 'init'), 0o755);
  copyFileSync(join(ROOT, 'scripts/boot/udhcpc.sh'), join(root, 'etc/udhcpc.sh'));
  chmodSync(join(root, 'etc/udhcpc.sh'), 0o755);
  writeFileSync(join(root, 'etc/shoal-modules'), `${EARLY_MODULES.join('\n')}\n`);
  const out = join(OUT, 'initrd.img');
  // newc cpio, zstd-compressed: Debian's kernel unpacks both (CONFIG_RD_ZSTD).
  execFileSync('sh', ['-c', `cd "${root}" && find . | sort | cpio -o -H newc --quiet -R 0:0 | zstd -q -15 -T0 -f -o "${out}"`], { stdio: 'inherit' });
  return out;
}

function firstStages(): void {
  const ipxe = debian('ipxe');
  copyFileSync(join(ipxe, 'usr/lib/ipxe/undionly.kpxe'), join(OUT, 'undionly.kpxe'));
  copyFileSync(join(ipxe, 'boot/ipxe.efi'), join(OUT, 'ipxe.efi'));
  copyFileSync(join(debian('shim-signed'), 'usr/lib/shim/shimx64.efi.signed'), join(OUT, 'bootx64.efi'));
  copyFileSync(join(debian('grub-efi-amd64-signed'), 'usr/lib/grub/x86_64-efi-signed/grubnetx64.efi.signed'), join(OUT, 'grubx64.efi'));
}

const started = Date.now();
if (!existsSync(join(ROOT, 'dist/pc/cli.js'))) throw new Error('dist/pc/cli.js is missing: run npm run build first');
mkdirSync(OUT, { recursive: true });
const k = kernel();
copyFileSync(join(k.dir, 'boot', `vmlinuz-${k.version}`), join(OUT, 'vmlinuz'));
const initrd = buildInitramfs(k);
firstStages();
writeFileSync(
  join(OUT, 'VERSION'),
  `${JSON.stringify({ kernel: k.version, node: process.version, built: new Date().toISOString(), inputs: bootInputsHash(ROOT) })}\n`,
);
const size = (f: string) => statSync(join(OUT, f)).size / MiB;
console.log(
  `boot image in ${OUT} (${((Date.now() - started) / 1000).toFixed(0)} s): kernel ${k.version} ${size('vmlinuz').toFixed(1)} MiB, ` +
    `initramfs ${size(basename(initrd)).toFixed(1)} MiB (Node ${process.version}), first stages: undionly.kpxe, ipxe.efi, bootx64.efi (shim), grubx64.efi`,
);
