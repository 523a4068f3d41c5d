/**
 * The self-describing piece (DESIGN.md, "The image"), laid out little-endian:
 *
 *   0  "SHOALPC1"            magic
 *   8  u32 headerBytes       56 + 17 × runCount
 *  12  u32 compressedBytes   length of the zstd frame that follows the header
 *  16  u32 pieceIndex        index of the piece within its area's piece file
 *  20  u32 runCount
 *  24  16 bytes              image id (the manifest's imageId, a UUID)
 *  40  16 bytes              area id, ASCII, zero-padded ("d0p2")
 *  56  runs                  u64 offset from the area's start, u64 length, u8 kind (0 data, 1 zero)
 *      zstd frame            one frame: the data runs' bytes, in run order
 *      zero padding          up to the image's piece length
 *
 * Any piece can be checked, decompressed and written alone, with nothing else at hand but the
 * manifest that says where its area sits on the target disk.
 */
import { createRequire } from 'node:module';
import { createHash } from 'node:crypto';
import { RUN_DATA, RUN_ZERO, type Run } from './manifest.js';
import { ShoalError } from '../errors.js';
import { ZERO_SCAN_BLOCK_BYTES, MIB } from '../units.js';

type ZstdBinding = typeof import('zstd-napi/binding.js');
const zstd = createRequire(import.meta.url)('zstd-napi/binding') as ZstdBinding;

export const PIECE_MAGIC = Buffer.from('SHOALPC1', 'ascii');
export const HEADER_FIXED_BYTES = 56;
export const RUN_BYTES = 17;
export const headerBytes = (runCount: number): number => HEADER_FIXED_BYTES + RUN_BYTES * runCount;

/** Raw input given to zstd between two flushes; small enough that a piece can be filled closely. */
const MAX_STEP_BYTES = 1 * MIB;
const MIN_STEP_BYTES = 4 * 1024;
/** Room kept for the frame's closing block and the bookkeeping of one more run. */
const CLOSE_RESERVE_BYTES = 64;
/** A piece stops taking data past this many raw bytes, so decompressing one stays cheap. */
export const MAX_RAW_PER_PIECE_FACTOR = 32;
/** Nor more zeros than this many pieces' worth, so no one piece makes a deploy write for minutes. */
export const MAX_ZERO_PER_PIECE_FACTOR = 256;

export interface PieceIdentity {
  imageId: string;
  areaId: string;
  index: number;
}

export interface PackedPiece {
  /** Exactly pieceLength bytes, header and padding included. */
  bytes: Buffer;
  runs: Run[];
  rawBytes: number;
  rawSha256: string;
  sha1: string;
}

function uuidBytes(uuid: string): Buffer {
  const hex = uuid.replace(/-/g, '');
  if (!/^[0-9a-f]{32}$/i.test(hex)) throw new ShoalError(`not a UUID: ${uuid}`);
  return Buffer.from(hex, 'hex');
}

function bytesUuid(b: Buffer): string {
  const h = b.toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

function isAllZero(buf: Buffer, zero: Buffer): boolean {
  return buf.length <= zero.length ? buf.equals(zero.subarray(0, buf.length)) : false;
}

/**
 * Packs raw area bytes into pieces of one fixed length, filling each close to full the way
 * Frisbee fills its chunks: zstd is flushed after steps small enough that their worst case
 * still fits, and the steps shrink as the piece fills. All-zero blocks become zero runs.
 */
export class PiecePacker {
  private readonly cctx = new zstd.CCtx();
  private readonly scratch: Buffer;
  private readonly zero = Buffer.alloc(ZERO_SCAN_BLOCK_BYTES);
  private used = 0;
  private runs: Run[] = [];
  private rawBytes = 0;
  private zeroBytes = 0;
  private rawHash = createHash('sha256');

  constructor(
    private readonly pieceLength: number,
    level: number,
  ) {
    this.cctx.setParameter(zstd.CParameter.compressionLevel, level);
    this.scratch = Buffer.allocUnsafe(pieceLength);
  }

  get isEmpty(): boolean {
    return this.runs.length === 0;
  }

  /** The runs the piece being filled covers so far (returned to the caller when it is given up). */
  get pendingRuns(): Run[] {
    return this.runs;
  }

  private spaceLeft(): number {
    return this.pieceLength - headerBytes(this.runs.length + 1) - CLOSE_RESERVE_BYTES - this.used;
  }

  private pushRun(offset: number, length: number, kind: typeof RUN_DATA | typeof RUN_ZERO): void {
    const last = this.runs[this.runs.length - 1];
    if (last && last[2] === kind && last[0] + last[1] === offset) last[1] += length;
    else this.runs.push([offset, length, kind]);
  }

  /**
   * Adds the area's bytes at `offset`. Returns how many were taken: fewer than given means the
   * piece is full and must be closed before the rest is added.
   */
  add(offset: number, data: Buffer): number {
    let taken = 0;
    while (taken < data.length) {
      const blockEnd = Math.min(data.length, taken + ZERO_SCAN_BLOCK_BYTES - ((offset + taken) % ZERO_SCAN_BLOCK_BYTES));
      // Find the longest stretch of blocks that are all zero, or all not.
      const zero = isAllZero(data.subarray(taken, blockEnd), this.zero);
      let end = blockEnd;
      while (end < data.length) {
        const next = Math.min(data.length, end + ZERO_SCAN_BLOCK_BYTES);
        if (isAllZero(data.subarray(end, next), this.zero) !== zero) break;
        end = next;
      }
      const took = zero ? this.addZero(offset + taken, end - taken) : this.addData(offset + taken, data.subarray(taken, end));
      taken += took;
      if (took < end - (taken - took)) break;
    }
    return taken;
  }

  /** Zero runs cost header bytes only. Returns how many were taken, as add() does. */
  addZero(offset: number, length: number): number {
    const last = this.runs[this.runs.length - 1];
    const merges = last !== undefined && last[2] === RUN_ZERO && last[0] + last[1] === offset;
    if (!merges && this.spaceLeft() < RUN_BYTES) return 0;
    const take = Math.min(length, this.pieceLength * MAX_ZERO_PER_PIECE_FACTOR - this.zeroBytes);
    if (take <= 0) return 0;
    this.pushRun(offset, take, RUN_ZERO);
    this.zeroBytes += take;
    return take;
  }

  private addData(offset: number, data: Buffer): number {
    const maxRaw = this.pieceLength * MAX_RAW_PER_PIECE_FACTOR;
    let taken = 0;
    while (taken < data.length) {
      const space = this.spaceLeft();
      let step = Math.min(data.length - taken, MAX_STEP_BYTES, maxRaw - this.rawBytes);
      // zstd's bound on a flushed step: never more than compressBound(step) bytes out.
      while (step > 0 && zstd.compressBound(step) > space) step = Math.floor(step / 2);
      if (step < Math.min(MIN_STEP_BYTES, data.length - taken)) break;
      const input = data.subarray(taken, taken + step);
      this.compress(input, zstd.EndDirective.flush);
      this.rawHash.update(input);
      this.pushRun(offset + taken, step, RUN_DATA);
      this.rawBytes += step;
      taken += step;
    }
    return taken;
  }

  private compress(input: Buffer, end: number): void {
    let consumed = 0;
    for (let guard = 0; ; guard++) {
      const [remaining, produced, took] = this.cctx.compressStream2(this.scratch.subarray(this.used), input.subarray(consumed), end);
      this.used += produced;
      consumed += took;
      if (remaining === 0 && consumed === input.length) return;
      if (produced === 0 && took === 0 && guard > 4) throw new Error('zstd made no progress: piece overflow');
    }
  }

  /**
   * Ends the frame and returns the finished piece; the packer is then ready for the next one.
   * Given `into` (pieceLength bytes), the piece is built there: a capture worker reuses one buffer
   * rather than have the kernel map and zero 4 MiB for every piece.
   */
  close(identity: PieceIdentity, into?: Buffer): PackedPiece {
    if (this.runs.length === 0) throw new Error('close() on an empty piece');
    if (this.rawBytes > 0) this.compress(Buffer.alloc(0), zstd.EndDirective.end);
    const compressed = this.rawBytes > 0 ? this.used : 0;
    const hdr = headerBytes(this.runs.length);
    if (hdr + compressed > this.pieceLength) throw new Error('piece overflow: header and data exceed the piece length');
    const bytes = into ?? Buffer.alloc(this.pieceLength);
    if (bytes.length !== this.pieceLength) throw new Error('close(): buffer is not one piece long');
    bytes.fill(0, 0, HEADER_FIXED_BYTES); // a reused buffer must not leak the last piece's identity
    bytes.fill(0, hdr + compressed);
    PIECE_MAGIC.copy(bytes, 0);
    bytes.writeUInt32LE(hdr, 8);
    bytes.writeUInt32LE(compressed, 12);
    bytes.writeUInt32LE(identity.index, 16);
    bytes.writeUInt32LE(this.runs.length, 20);
    uuidBytes(identity.imageId).copy(bytes, 24);
    const area = Buffer.from(identity.areaId, 'ascii');
    if (area.length > 16) throw new Error(`area id too long: ${identity.areaId}`);
    area.copy(bytes, 40);
    let at = HEADER_FIXED_BYTES;
    for (const [offset, length, kind] of this.runs) {
      bytes.writeBigUInt64LE(BigInt(offset), at);
      bytes.writeBigUInt64LE(BigInt(length), at + 8);
      bytes.writeUInt8(kind, at + 16);
      at += RUN_BYTES;
    }
    this.scratch.copy(bytes, hdr, 0, compressed);
    const piece: PackedPiece = {
      bytes,
      runs: this.runs,
      rawBytes: this.rawBytes,
      rawSha256: this.rawHash.digest('hex'),
      sha1: createHash('sha1').update(bytes).digest('hex'),
    };
    this.reset();
    return piece;
  }

  /** Drops the piece being filled (its input is re-packed elsewhere). */
  reset(): void {
    this.cctx.reset(zstd.ResetDirective.sessionOnly);
    this.used = 0;
    this.runs = [];
    this.rawBytes = 0;
    this.zeroBytes = 0;
    this.rawHash = createHash('sha256');
  }
}

export interface PieceHeader extends PieceIdentity {
  headerBytes: number;
  compressedBytes: number;
  runs: Run[];
}

/** Parses a piece's header, refusing anything that is not a well-formed Shoal piece. */
export function parsePieceHeader(bytes: Buffer): PieceHeader {
  const bad = (why: string): never => {
    throw new ShoalError(`not a valid Shoal piece: ${why}`);
  };
  if (bytes.length < HEADER_FIXED_BYTES || !bytes.subarray(0, 8).equals(PIECE_MAGIC)) bad('bad magic');
  const hdr = bytes.readUInt32LE(8);
  const compressedBytes = bytes.readUInt32LE(12);
  const index = bytes.readUInt32LE(16);
  const runCount = bytes.readUInt32LE(20);
  if (hdr !== headerBytes(runCount) || hdr > bytes.length) bad('header length does not match its run count');
  if (hdr + compressedBytes > bytes.length) bad('compressed data runs past the piece');
  const areaRaw = bytes.subarray(40, 56);
  const nul = areaRaw.indexOf(0);
  const areaId = areaRaw.subarray(0, nul < 0 ? 16 : nul).toString('ascii');
  const runs: Run[] = [];
  let at = HEADER_FIXED_BYTES;
  for (let i = 0; i < runCount; i++, at += RUN_BYTES) {
    const offset = Number(bytes.readBigUInt64LE(at));
    const length = Number(bytes.readBigUInt64LE(at + 8));
    const kind = bytes.readUInt8(at + 16);
    if (kind !== RUN_DATA && kind !== RUN_ZERO) bad(`run ${i} has unknown kind ${kind}`);
    if (length <= 0 || !Number.isSafeInteger(offset + length)) bad(`run ${i} is empty or too large`);
    runs.push([offset, length, kind as Run[2]]);
  }
  return { imageId: bytesUuid(bytes.subarray(24, 40)), areaId, index, headerBytes: hdr, compressedBytes, runs };
}

/** Output granularity of decompression: a piece's raw bytes are never held whole. */
const DECODE_CHUNK_BYTES = 1 * MIB;
/** One per thread, reused: decodePiece hands out chunks of `out` only until it returns. */
const decoder = { dctx: new zstd.DCtx(), out: Buffer.allocUnsafe(DECODE_CHUNK_BYTES) };

/**
 * Decompresses a piece and hands its data runs out in order, `chunk` by `chunk`, with their area
 * offsets; zero runs are handed out with a null chunk. Throws when the data does not match the runs.
 */
export function decodePiece(bytes: Buffer, header: PieceHeader, sink: (areaOffset: number, length: number, chunk: Buffer | null) => void): void {
  const dctx = decoder.dctx;
  dctx.reset(zstd.ResetDirective.sessionOnly);
  const src = bytes.subarray(header.headerBytes, header.headerBytes + header.compressedBytes);
  const out = decoder.out;
  let srcAt = 0;
  let outLen = 0; // decompressed bytes held in `out`
  let outAt = 0; // of which already handed out
  let frameDone = header.compressedBytes === 0;
  const refill = (): void => {
    if (frameDone) throw new ShoalError(`piece ${header.areaId}#${header.index}: compressed data ends before its runs do`);
    outLen = 0;
    outAt = 0;
    while (outLen === 0) {
      const [hint, produced, consumed] = dctx.decompressStream(out, src.subarray(srcAt));
      srcAt += consumed;
      outLen = produced;
      if (hint === 0) frameDone = true;
      if (produced === 0 && (consumed === 0 || frameDone)) {
        if (frameDone) break;
        if (srcAt >= src.length) throw new ShoalError(`piece ${header.areaId}#${header.index}: compressed data is truncated`);
      }
    }
    if (outLen === 0) throw new ShoalError(`piece ${header.areaId}#${header.index}: compressed data ends before its runs do`);
  };
  for (const [offset, length, kind] of header.runs) {
    if (kind === RUN_ZERO) {
      sink(offset, length, null);
      continue;
    }
    let done = 0;
    while (done < length) {
      if (outAt === outLen) refill();
      const n = Math.min(length - done, outLen - outAt);
      sink(offset + done, n, out.subarray(outAt, outAt + n));
      outAt += n;
      done += n;
    }
  }
  if (outAt !== outLen || (!frameDone && srcAt < src.length)) {
    // Anything left over means the header and the data disagree.
    const [, produced] = frameDone ? [0, 0] : dctx.decompressStream(out, src.subarray(srcAt));
    if (outAt !== outLen || produced > 0) throw new ShoalError(`piece ${header.areaId}#${header.index}: holds more data than its runs`);
  }
}
