#!/usr/bin/env bash
# Installs what Shoal and its tests need on a fresh Debian machine: the disk tools Shoal drives and
# the npm packages (zstd-napi and friends build natively). Run as root.
set -euo pipefail
cd "$(dirname "$0")/.."
# postgresql: the portal's tests run on it as well as SQLite; chromium: the browser tests (playwright-core drives it);
# iptables and iproute2: the lab simulator (namespaces, tc shaping, packet loss); dnsmasq-base: `shoal start --pxe`;
# qemu-system-x86 and ovmf: the network-boot tests' virtual PCs (BIOS and UEFI); cpio: the boot image's build
# (which fetches the kernel, shim, GRUB, iPXE and busybox itself with apt-get download: they are not installed);
# xfsprogs and btrfs-progs: the boot image carries them for PCs with XFS or Btrfs. mmdebstrap and grub2-common: the
# test OS (scripts/test-os: a minimal Debian built from the mirror, GRUB installed from its own modules) the boot tests deploy.
# efibootmgr and libhivex-bin: after a deploy, the PC's UEFI boot entry and a Windows system's computer name (the boot image carries them).
# qemu-utils (qemu-img) and fuse3: VM disks (qcow2, VMDK, VHD, VHDX) read by `shoal capture` and written by `shoal export`
# through qemu-storage-daemon's FUSE export (qemu-storage-daemon comes with qemu-system-x86's qemu-system-common).
# pigz, bzip2, xz-utils and lz4: `shoal import` reads FOG and Clonezilla images compressed with them (zstd is above);
# parted: the import tests build Clonezilla folders as it does (sda-pt.parted); time: bench:swarm measures a PC's CPU with GNU time.
DEBIAN_PACKAGES=(partclone gdisk fdisk ntfs-3g dosfstools mtools zstd e2fsprogs util-linux mount udpcast kmod aria2 postgresql chromium iptables iproute2
  dnsmasq-base qemu-system-x86 ovmf cpio xfsprogs btrfs-progs mmdebstrap grub2-common efibootmgr libhivex-bin pigz bzip2 xz-utils lz4 parted time qemu-utils fuse3)
missing=()
for p in "${DEBIAN_PACKAGES[@]}"; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p"); done
# The boot image's build downloads packages too: the lists must be there on a fresh machine.
if [ ${#missing[@]} -gt 0 ] || [ -z "$(ls -A /var/lib/apt/lists 2>/dev/null | grep -v -e lock -e partial)" ]; then
  apt-get update -qq
fi
if [ ${#missing[@]} -gt 0 ]; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
# Loop devices for the tests and for disk-image files: make sure the driver is there.
modprobe loop 2>/dev/null || true
npm ci --no-audit --no-fund
