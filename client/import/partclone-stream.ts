/**
 * Reads a partclone image (what FOG and Clonezilla store per partition) as a stream: the header,
 * the bitmap of used blocks, then the used blocks in order with their checksums. Image format
 * 0001 and 0002, as partclone's own partclone.h, partclone.c and checksum.c define them
 * (docs/foreign-images.md). Every checksum the image carries is checked before a byte is used.
 */
import { createRequire } from 'node:module';
import { crc32 } from 'node:zlib';
import { ShoalError } from '../../shared/errors.js';
import type { ByteReader } from './byte-reader.js';

export const PARTCLONE_MAGIC = 'partclone-image';
const V1_HEADER_BYTES = 4160; // head 36, fs info 28, 4096 bytes of options never used
const V2_HEADER_BYTES = 110; // head 36, fs info 52, options 18, crc 4
const V1_BITMAP_MAGIC = 'BiTmAgIc';

/** partclone's checksum modes (checksum.h). */
const CSM_NONE = 0x00;
const CSM_CRC32 = 0x20;
const CSM_CRC32_0001 = 0xff;
const CSM_XXH64 = 0x30;
const CSM_XXH128 = 0x31;
const CHECKSUM_BYTES: Record<number, number> = { [CSM_CRC32]: 4, [CSM_CRC32_0001]: 4, [CSM_XXH64]: 8, [CSM_XXH128]: 16 };
/** A checksum group read whole (xxhash, format 0001) may be this large at most; partclone's own are 1–10 MiB. */
const MAX_GROUP_BYTES = 256 * 1024 * 1024;
/** partclone's bitmap modes. */
const BM_NONE = 0x00;
const BM_BIT = 0x01;
const BM_BYTE = 0x08;

export interface PartcloneHeader {
  imageVersion: 1 | 2;
  /** partclone's name of the filesystem: EXTFS, NTFS, FAT32, raw, … */
  fs: string;
  deviceBytes: number;
  totalBlocks: number;
  usedBlocks: number;
  blockSize: number;
  checksumMode: number;
  checksumSize: number;
  blocksPerChecksum: number;
  reseedChecksum: boolean;
  bitmapMode: number;
}

/** [first block, block count] of used blocks, in order. */
export type BlockRun = [number, number];

/**
 * partclone's CRC32: the reflected 0xEDB88320 polynomial seeded with 0xFFFFFFFF and never
 * inverted at the end, i.e. the bitwise complement of zlib's running CRC.
 */
const crcUpdate = (state: number, data: Uint8Array): number => ~crc32(data, ~state >>> 0) >>> 0;
const CRC_SEED = 0xffffffff;

const u64 = (b: Buffer, at: number, what: string, field: string): number => {
  const v = b.readBigUInt64LE(at);
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new ShoalError(`${what}: partclone header's ${field} (${v}) is out of range`);
  return Number(v);
};
const cstr = (b: Buffer): string => {
  const nul = b.indexOf(0);
  return b.subarray(0, nul < 0 ? b.length : nul).toString('latin1');
};

export async function readPartcloneHeader(r: ByteReader): Promise<PartcloneHeader> {
  const what = r.what;
  const head = await r.read(V2_HEADER_BYTES, "partclone's header");
  if (head.subarray(0, PARTCLONE_MAGIC.length).toString('latin1') !== PARTCLONE_MAGIC) {
    throw new ShoalError(`${what}: not a partclone image (no "${PARTCLONE_MAGIC}" at its start)`);
  }
  const version = head.subarray(30, 34).toString('latin1');
  if (version === '0002') {
    const want = head.readUInt32LE(106);
    const got = crcUpdate(CRC_SEED, head.subarray(0, 106));
    if (want !== got) throw new ShoalError(`${what}: partclone header fails its checksum (corrupt image)`);
    if (head.readUInt16LE(34) !== 0xc0de) throw new ShoalError(`${what}: partclone image made on a big-endian machine; not supported`);
    const h: PartcloneHeader = {
      imageVersion: 2,
      fs: cstr(head.subarray(36, 52)),
      deviceBytes: u64(head, 52, what, 'device size'),
      totalBlocks: u64(head, 60, what, 'total blocks'),
      usedBlocks: u64(head, 76, what, 'used blocks'),
      blockSize: head.readUInt32LE(84),
      checksumMode: head.readUInt16LE(96),
      checksumSize: head.readUInt16LE(98),
      blocksPerChecksum: head.readUInt32LE(100),
      reseedChecksum: head.readUInt8(104) === 1,
      bitmapMode: head.readUInt8(105),
    };
    return checkHeader(h, what);
  }
  if (version === '0001') {
    const rest = await r.read(V1_HEADER_BYTES - V2_HEADER_BYTES, "partclone's header");
    const all = Buffer.concat([head, rest]);
    const h: PartcloneHeader = {
      imageVersion: 1,
      fs: cstr(all.subarray(15, 30)),
      blockSize: all.readInt32LE(36),
      deviceBytes: u64(all, 40, what, 'device size'),
      totalBlocks: u64(all, 48, what, 'total blocks'),
      usedBlocks: u64(all, 56, what, 'used blocks'),
      // Format 0001 has no options: a CRC per block, never reseeded, and its own CRC flaw.
      checksumMode: CSM_CRC32_0001,
      checksumSize: 4,
      blocksPerChecksum: 1,
      reseedChecksum: false,
      bitmapMode: BM_BYTE,
    };
    return checkHeader(h, what);
  }
  throw new ShoalError(`${what}: partclone image format "${version.replace(/[^ -~]/g, '?')}" is not one Shoal reads (0001 or 0002)`);
}

function checkHeader(h: PartcloneHeader, what: string): PartcloneHeader {
  const bad = (why: string): never => {
    throw new ShoalError(`${what}: invalid partclone header: ${why}`);
  };
  if (h.blockSize <= 0 || h.blockSize > 64 * 1024 * 1024 || h.blockSize % 512 !== 0) bad(`block size ${h.blockSize}`);
  if (h.usedBlocks > h.totalBlocks) bad(`${h.usedBlocks} used blocks of ${h.totalBlocks}`);
  if (h.totalBlocks * h.blockSize > h.deviceBytes && h.imageVersion === 2)
    bad(`${h.totalBlocks} blocks of ${h.blockSize} bytes exceed the device's ${h.deviceBytes} bytes`);
  if (!Number.isSafeInteger(h.totalBlocks * h.blockSize)) bad('size out of range');
  if (h.checksumMode === CSM_NONE) {
    if (h.checksumSize !== 0) bad(`checksum size ${h.checksumSize} without a checksum`);
  } else if (CHECKSUM_BYTES[h.checksumMode] !== undefined) {
    if (h.checksumSize !== CHECKSUM_BYTES[h.checksumMode]) bad(`checksum mode 0x${h.checksumMode.toString(16)} with ${h.checksumSize}-byte checksums`);
    if (h.blocksPerChecksum <= 0) bad('no blocks per checksum');
    // xxhash's running state is not carried from group to group here; partclone reseeds by default.
    if ((h.checksumMode === CSM_XXH64 || h.checksumMode === CSM_XXH128) && !h.reseedChecksum) {
      throw new ShoalError(`${what}: its xxhash checksums run on over the whole stream (partclone -K), which Shoal cannot check`);
    }
  } else {
    throw new ShoalError(
      `${what}: its blocks carry checksums of mode 0x${h.checksumMode.toString(16)}, which Shoal does not know (partclone -a0 to -a3 it does)`,
    );
  }
  if (![BM_NONE, BM_BIT, BM_BYTE].includes(h.bitmapMode)) bad(`bitmap mode ${h.bitmapMode}`);
  return h;
}

/** The used blocks as runs; the bitmap's own checksum (format 0002) or magic (0001) checked. */
export async function readPartcloneBitmap(r: ByteReader, h: PartcloneHeader): Promise<BlockRun[]> {
  const runs: BlockRun[] = [];
  const push = (block: number): void => {
    const last = runs[runs.length - 1];
    if (last && last[0] + last[1] === block) last[1]++;
    else runs.push([block, 1]);
  };
  if (h.bitmapMode === BM_NONE) {
    if (h.usedBlocks !== h.totalBlocks) throw new ShoalError(`${r.what}: no bitmap, yet ${h.usedBlocks} of ${h.totalBlocks} blocks used`);
    return h.totalBlocks ? [[0, h.totalBlocks]] : [];
  }
  if (h.bitmapMode === BM_BIT) {
    const bitmap = await r.read(Math.ceil(h.totalBlocks / 8), "partclone's bitmap");
    const want = (await r.read(4, "the bitmap's checksum")).readUInt32LE(0);
    if (crcUpdate(CRC_SEED, bitmap) !== want) throw new ShoalError(`${r.what}: partclone's bitmap fails its checksum (corrupt image)`);
    for (let byte = 0; byte < bitmap.length; byte++) {
      const v = bitmap[byte]!;
      if (v === 0) continue;
      for (let bit = 0; bit < 8; bit++) {
        const block = byte * 8 + bit;
        if (block < h.totalBlocks && v & (1 << bit)) push(block);
      }
    }
  } else {
    // One byte per block, 1 when used; then a magic string instead of a checksum.
    let block = 0;
    while (block < h.totalBlocks) {
      const chunk = await r.read(Math.min(1 << 20, h.totalBlocks - block), "partclone's bitmap");
      for (let i = 0; i < chunk.length; i++) if (chunk[i] === 1) push(block + i);
      block += chunk.length;
    }
    const magic = (await r.read(V1_BITMAP_MAGIC.length, "the bitmap's end mark")).toString('latin1');
    if (magic !== V1_BITMAP_MAGIC) throw new ShoalError(`${r.what}: partclone's bitmap does not end with its mark (corrupt image)`);
  }
  return runs;
}

/** Format 0001's CRC looked only at each block's first byte, `size` times over (checksum.c says so). */
const flawedInputs = new Map<string, Buffer>();
function crc0001(state: number, block: Buffer): number {
  const key = `${block[0]}:${block.length}`;
  let same = flawedInputs.get(key);
  if (!same) {
    if (flawedInputs.size > 512) flawedInputs.clear();
    same = Buffer.alloc(block.length, block[0]);
    flawedInputs.set(key, same);
  }
  return crcUpdate(state, same);
}

/**
 * xxhash (partclone -a2, -a3; Clonezilla's default since April 2026): from @node-rs/xxhash, loaded
 * only when an image carries it, stored as partclone holds it in memory: little-endian words, the
 * 128-bit one low half first.
 */
type XxhashModule = typeof import('@node-rs/xxhash');
let xxhash: XxhashModule | undefined;
function xxhDigest(mode: number, data: Buffer): Buffer {
  xxhash ??= createRequire(import.meta.url)('@node-rs/xxhash') as XxhashModule;
  const out = Buffer.alloc(mode === CSM_XXH64 ? 8 : 16);
  if (mode === CSM_XXH64) out.writeBigUInt64LE(xxhash.xxh64(data, 0n));
  else {
    const v = xxhash.xxh3.xxh128(data);
    out.writeBigUInt64LE(v & 0xffffffffffffffffn, 0);
    out.writeBigUInt64LE(v >> 64n, 8);
  }
  return out;
}

/**
 * Hands the used blocks to `sink` in order, as (byte offset in the partition, bytes) of contiguous
 * bytes, and checks every group against its checksum. `sink` may keep the buffer.
 */
export async function readPartcloneBlocks(
  r: ByteReader,
  h: PartcloneHeader,
  runs: BlockRun[],
  sink: (offset: number, data: Buffer) => Promise<void> | void,
): Promise<void> {
  const used = runs.reduce((n, [, c]) => n + c, 0);
  // Format 0002 keeps the bitmap's own count; 0001's is the filesystem's word and may differ.
  if (h.imageVersion === 2 && used !== h.usedBlocks) {
    throw new ShoalError(`${r.what}: its header counts ${h.usedBlocks} used blocks, its bitmap ${used} (corrupt image)`);
  }
  if (!(h.checksumMode === CSM_NONE || h.checksumMode === CSM_CRC32) && h.blocksPerChecksum * h.blockSize > MAX_GROUP_BYTES) {
    throw new ShoalError(`${r.what}: a checksum over ${h.blocksPerChecksum} blocks of ${h.blockSize} bytes: more than Shoal holds at once`);
  }
  // Without a checksum, or with CRC32 (which runs on chunk by chunk), the stream's own chunks go
  // to the sink as they come, uncopied; the others need each group whole.
  const incremental = h.checksumMode === CSM_NONE || h.checksumMode === CSM_CRC32;
  const perGroup = h.checksumMode === CSM_NONE ? used || 1 : h.blocksPerChecksum;
  let state = CRC_SEED;
  let runIndex = 0;
  let inRun = 0; // bytes of runs[runIndex] already handed out
  const emit = async (data: Buffer): Promise<void> => {
    let at = 0;
    while (at < data.length) {
      const [first, length] = runs[runIndex]!;
      const take = Math.min(length * h.blockSize - inRun, data.length - at);
      await sink(first * h.blockSize + inRun, data.subarray(at, at + take));
      at += take;
      inRun += take;
      if (inRun === length * h.blockSize) {
        runIndex++;
        inRun = 0;
      }
    }
  };
  let done = 0;
  while (done < used) {
    const count = Math.min(perGroup, used - done);
    const during = `block ${done + 1} of ${used}`;
    let group: Buffer | undefined;
    if (incremental) {
      for (let left = count * h.blockSize; left > 0;) {
        const chunk = await r.readUpTo(left, during);
        if (h.checksumMode === CSM_CRC32) state = crcUpdate(state, chunk);
        await emit(chunk);
        left -= chunk.length;
      }
    } else group = await r.read(count * h.blockSize, during);
    if (h.checksumMode !== CSM_NONE) {
      const stored = await r.read(h.checksumSize, `the checksum after block ${done + count}`);
      let ok: boolean;
      if (h.checksumMode === CSM_XXH64 || h.checksumMode === CSM_XXH128) ok = xxhDigest(h.checksumMode, group!).equals(stored);
      else {
        if (h.checksumMode === CSM_CRC32_0001) for (let i = 0; i < count; i++) state = crc0001(state, group!.subarray(i * h.blockSize, (i + 1) * h.blockSize));
        ok = state === stored.readUInt32LE(0);
        if (h.reseedChecksum) state = CRC_SEED;
      }
      // Blocks already handed on are harmless: an import that fails publishes nothing.
      if (!ok) throw new ShoalError(`${r.what}: blocks ${done + 1}–${done + count} of ${used} fail their checksum (corrupt image)`);
    }
    if (group) await emit(group);
    done += count;
  }
  const extra = await r.remaining();
  if (extra > 0) throw new ShoalError(`${r.what}: ${extra} bytes follow the last block (corrupt image, or not one partclone stream)`);
}
