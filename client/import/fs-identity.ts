/**
 * What a filesystem says of itself in its first bytes, read from a partclone stream's first
 * blocks: partclone names only the family ("EXTFS", "FAT32"), a manifest wants ext2, ext3 or ext4,
 * and the label and UUID a capture would have read with blkid.
 */
import type { Filesystem } from '../../shared/image/manifest.js';

export interface FsIdentity {
  filesystem: Filesystem;
  label?: string;
  uuid?: string;
}

/** partclone's filesystem names (partclone.h's *_MAGIC) to the manifest's. */
const FAMILIES: Array<[RegExp, Filesystem]> = [
  [/^EXT(FS|2|3|4)$/i, 'ext4'],
  [/^NTFS$/i, 'ntfs'],
  [/^FAT(12|16|32)?$/i, 'vfat'],
  [/^EXFAT$/i, 'exfat'],
  [/^XFS$/i, 'xfs'],
  [/^BTRFS$/i, 'btrfs'],
  [/^F2FS$/i, 'f2fs'],
  [/^HFS ?Plus$/i, 'hfsplus'],
  [/^MINIX$/i, 'minix'],
  [/^APFS$/i, 'apfs'],
];

const text = (b: Buffer): string => b.toString('latin1').replace(/\0.*$/s, '').trim();
const hex = (b: Buffer): string => b.toString('hex');

/** `head`: the filesystem's first bytes as far as the stream gave them contiguously from 0. */
export function identifyFilesystem(partcloneFs: string, head: Buffer): FsIdentity {
  const family = FAMILIES.find(([re]) => re.test(partcloneFs.trim()))?.[1] ?? 'raw';
  if (family === 'ext4' && head.length >= 2048 && head.readUInt16LE(1024 + 56) === 0xef53) {
    const sb = head.subarray(1024, 2048);
    const compat = sb.readUInt32LE(92);
    const incompat = sb.readUInt32LE(96);
    const roCompat = sb.readUInt32LE(100);
    const ext4 = (incompat & (0x40 | 0x80 | 0x200)) !== 0 || (roCompat & (0x8 | 0x20 | 0x40 | 0x400)) !== 0;
    const u = hex(sb.subarray(104, 120));
    const label = text(sb.subarray(120, 136));
    return {
      filesystem: ext4 ? 'ext4' : compat & 0x4 ? 'ext3' : 'ext2',
      uuid: `${u.slice(0, 8)}-${u.slice(8, 12)}-${u.slice(12, 16)}-${u.slice(16, 20)}-${u.slice(20)}`,
      ...(label && { label }),
    };
  }
  if (family === 'vfat' && head.length >= 512) {
    const fat32 = head.readUInt16LE(0x16) === 0; // sectors per FAT: 0 in the old field on FAT32
    const at = fat32 ? 0x43 : 0x27;
    const serial = head.readUInt32LE(at).toString(16).toUpperCase().padStart(8, '0');
    const label = text(head.subarray(at + 4, at + 15));
    return { filesystem: 'vfat', uuid: `${serial.slice(0, 4)}-${serial.slice(4)}`, ...(label && label !== 'NO NAME' && { label }) };
  }
  if (family === 'ntfs' && head.length >= 512) {
    return { filesystem: 'ntfs', uuid: head.readBigUInt64LE(0x48).toString(16).toUpperCase().padStart(16, '0') };
  }
  return { filesystem: family };
}

/** Where an NTFS volume keeps the copy of its boot sector (its last sector), which partclone leaves out. */
export function ntfsBackupBootOffset(head: Buffer): number | undefined {
  if (head.length < 512 || head.subarray(3, 11).toString('latin1') !== 'NTFS    ') return undefined;
  const bytesPerSector = head.readUInt16LE(0x0b);
  const sectors = Number(head.readBigUInt64LE(0x28));
  return bytesPerSector > 0 && Number.isSafeInteger(sectors * bytesPerSector) ? sectors * bytesPerSector : undefined;
}
