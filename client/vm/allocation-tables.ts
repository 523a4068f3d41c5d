/**
 * A VMDK or VHD file cut short (a copy that stopped, a full disk during an export) opens in qemu
 * without complaint, and the blocks past its end read back as zeros: a capture would publish a
 * disk with holes and say nothing. qemu has no checker for these two formats, so Shoal reads their
 * allocation tables itself and refuses a file whose tables point past its end, or that has lost
 * the footer a VHD ends with. Sparse VMDK (monolithicSparse and streamOptimized) and dynamic VHD
 * are what these formats hold tables in; a fixed VHD is its disk and a footer, and qcow2 and VHDX
 * are checked by `qemu-img check` (virtual-disk.ts).
 */
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { ShoalError } from '../../shared/errors.js';

const SECTOR = 512;

/** Every allocated block of the file lies inside it; throws a ShoalError naming the first that does not. */
export function assertTablesInFile(path: string, format: 'vmdk' | 'vpc'): void {
  const fd = openSync(path, 'r');
  try {
    const size = fstatSync(fd).size;
    const read = (at: number, length: number): Buffer => {
      const buf = Buffer.alloc(length);
      const got = readSync(fd, buf, 0, length, at);
      return got === length ? buf : buf.subarray(0, got);
    };
    const cut = (what: string, end?: number): ShoalError =>
      new ShoalError(
        `disk ${path} is cut short: ${end === undefined ? `${what} is missing` : `${what} ends at byte ${end}, past the file's ${size} bytes`} (an incomplete copy?); copy it again or capture another copy`,
      );
    if (format === 'vmdk') checkSparseVmdk(read, size, cut);
    else checkDynamicVhd(read, size, cut);
  } finally {
    closeSync(fd);
  }
}

type Read = (at: number, length: number) => Buffer;
type Cut = (what: string, end?: number) => ShoalError;

/** VMDK's sparse extent header ("KDMV"), its grain directory and grain tables (VMware's Virtual Disk Format 5.0). */
function checkSparseVmdk(read: Read, size: number, cut: Cut): void {
  let h = read(0, SECTOR);
  if (h.length < 80 || h.readUInt32LE(0) !== 0x564d444b) return; // a descriptor file: its extents were refused as other files
  const GD_AT_END = 0xffffffffffffffffn;
  // streamOptimized writes the grain directory last and its real offset in a footer, a copy of the
  // header in the second-to-last sector.
  if (h.readBigUInt64LE(56) === GD_AT_END) {
    h = size >= 3 * SECTOR ? read(size - 2 * SECTOR, SECTOR) : Buffer.alloc(0);
    if (h.length < 80 || h.readUInt32LE(0) !== 0x564d444b || h.readBigUInt64LE(56) === GD_AT_END) throw cut('the footer a streamOptimized VMDK ends with');
  }
  const compressed = (h.readUInt32LE(8) & (1 << 16)) !== 0;
  const capacity = Number(h.readBigUInt64LE(12));
  const grainSectors = Number(h.readBigUInt64LE(20));
  const perTable = h.readUInt32LE(44);
  const gdSector = Number(h.readBigUInt64LE(56));
  if (!grainSectors || !perTable) return; // qemu refuses such a header itself
  const tables = Math.ceil(capacity / (grainSectors * perTable));
  const gdEnd = gdSector * SECTOR + tables * 4;
  if (gdEnd > size) throw cut('the grain directory', gdEnd);
  const directory = read(gdSector * SECTOR, tables * 4);
  for (let t = 0; t < tables; t++) {
    const tableSector = directory.readUInt32LE(t * 4);
    if (!tableSector) continue;
    const tableEnd = tableSector * SECTOR + perTable * 4;
    if (tableEnd > size) throw cut(`grain table ${t}`, tableEnd);
    const table = read(tableSector * SECTOR, perTable * 4);
    for (let g = 0; g < perTable; g++) {
      const grain = table.readUInt32LE(g * 4);
      // 0: never written; 1: written as zeros (no data in the file).
      if (grain <= 1) continue;
      const at = grain * SECTOR;
      let end = at + grainSectors * SECTOR;
      if (compressed) {
        // A compressed grain: its disk sector (8 bytes) and length (4), then that many bytes.
        const marker = read(at, 12);
        end = marker.length < 12 ? at + 12 : at + 12 + marker.readUInt32LE(8);
      }
      if (end > size) throw cut(`grain ${t * perTable + g}`, end);
    }
  }
}

/** A dynamic VHD: the footer it ends with, its dynamic header ("cxsparse") and block allocation table. */
function checkDynamicVhd(read: Read, size: number, cut: Cut): void {
  const copy = read(0, SECTOR);
  if (copy.length < SECTOR || copy.toString('latin1', 0, 8) !== 'conectix') return; // a fixed VHD: found by its footer alone
  // The spec puts the footer at the end and a copy at the start; qemu reads the copy, so it opens
  // a file that lost its end without a word. (Virtual PC before 2004 wrote a 511-byte footer.)
  const footerBytes = [SECTOR, SECTOR - 1].find((n) => size >= 2 * SECTOR + n && read(size - n, 8).toString('latin1') === 'conectix');
  if (!footerBytes) throw cut('the footer a VHD ends with');
  const headerAt = Number(copy.readBigUInt64BE(16));
  const header = read(headerAt, 1024);
  if (header.length < 40 || header.toString('latin1', 0, 8) !== 'cxsparse') throw cut('the dynamic header');
  const tableAt = Number(header.readBigUInt64BE(16));
  const entries = header.readUInt32BE(28);
  const blockBytes = header.readUInt32BE(32);
  const tableEnd = tableAt + entries * 4;
  if (tableEnd > size) throw cut('the block allocation table', tableEnd);
  // Each block is its sector bitmap (one bit per sector, whole sectors) and then its data.
  const bitmapBytes = Math.ceil(blockBytes / SECTOR / 8 / SECTOR) * SECTOR;
  const table = read(tableAt, entries * 4);
  const dataEnd = size - footerBytes;
  for (let b = 0; b < entries; b++) {
    const sector = table.readUInt32BE(b * 4);
    if (sector === 0xffffffff) continue;
    const end = sector * SECTOR + bitmapBytes + blockBytes;
    if (end > dataEnd) throw cut(`block ${b}`, end);
  }
}
