/**
 * One piece over HTTP from a storage node: a Range request per file range it lies in (one, for a
 * Shoal image), each answer checked for status and length before a byte is kept. A request that
 * receives nothing for IDLE_TIMEOUT_MS is given up; a slow one that flows is not (a download limit
 * may make a piece take long).
 *
 * node:http rather than fetch(): fetch's WHATWG body stream cost a lone PC about 1.5 ms of CPU per
 * MiB in its own JavaScript, and it pauses and resumes the socket around every chunk the download
 * limit holds back (114 epoll_ctl a second at 8 MiB/s). Here each chunk is copied straight into
 * the piece's buffer, and the socket is paused only when reading is more than READ_AHEAD_MS
 * ahead of the limit (byte-throttle.ts).
 */
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { withoutKey } from '../../shared/keys/swarm-key.js';
import { ShoalError } from '../../shared/errors.js';
import { pieceRanges, webSeedFileUrl, type TorrentLayout } from '../../shared/image/piece-ranges.js';
import type { ByteThrottle } from '../deploy/byte-throttle.js';

export const IDLE_TIMEOUT_MS = 30_000;

export interface PieceFetchOptions {
  layout: TorrentLayout;
  /** The web seed URL of the image on a storage node: `${httpUrl}/images/NAME/`. */
  base: string;
  signal: AbortSignal;
  throttle: ByteThrottle;
  /** Each chunk as it arrives (the deploy's byte counts and speed). */
  onBytes(n: number): void;
  idleTimeoutMs?: number;
  /**
   * Where the piece goes, when the caller keeps a buffer per request in flight: a fresh 4 MiB
   * buffer per piece costs its page faults again each time. At least the piece's length.
   */
  into?: Buffer;
}

/** The piece's bytes: `into`'s start when given (a view of it, valid until the caller reuses it). */
export async function fetchPiece(index: number, o: PieceFetchOptions): Promise<Buffer> {
  const ranges = pieceRanges(o.layout, index);
  const total = ranges.reduce((n, r) => n + r.end - r.start + 1, 0);
  if (o.into && o.into.length < total) throw new Error(`a ${o.into.length}-byte buffer for piece ${index} of ${total} bytes`);
  const out = o.into ? o.into.subarray(0, total) : Buffer.allocUnsafe(total);
  let filled = 0;
  for (const r of ranges) {
    const where = webSeedFileUrl(o.base, o.layout, r.path);
    filled += await fetchRange(where, r.start, r.end, out.subarray(filled), o);
  }
  return out;
}

/** Bytes start..end (inclusive) of the file at `where` into `out`'s start; resolves with their count. */
function fetchRange(where: string, start: number, end: number, out: Buffer, o: PieceFetchOptions): Promise<number> {
  // Errors name the URL without its key: they end up in the portal's host log.
  const url = withoutKey(where);
  const want = end - start + 1;
  const idleMs = o.idleTimeoutMs ?? IDLE_TIMEOUT_MS;
  return new Promise<number>((resolve, reject) => {
    let settled = false;
    let got = 0;
    let lastByteAt = Date.now();
    let resumeTimer: NodeJS.Timeout | undefined;
    // One timer for the whole request, moved on only when it fires: re-arming it per chunk cost a
    // timer-list insert for every 64 KiB.
    let idleTimer = setTimeout(function idleCheck() {
      const quiet = Date.now() - lastByteAt;
      if (quiet >= idleMs) fail(new ShoalError(`${url}: nothing received for ${idleMs / 1000} s`));
      else idleTimer = setTimeout(idleCheck, idleMs - quiet);
    }, idleMs);
    const onAbort = (): void => fail(o.signal.reason instanceof Error ? o.signal.reason : new ShoalError(`${url}: stopped`));
    const settle = (): void => {
      settled = true;
      clearTimeout(idleTimer);
      clearTimeout(resumeTimer);
      o.signal.removeEventListener('abort', onAbort);
    };
    function fail(err: Error): void {
      if (settled) return;
      settle();
      req.destroy();
      reject(err);
    }
    if (o.signal.aborted) {
      clearTimeout(idleTimer);
      return reject(o.signal.reason instanceof Error ? o.signal.reason : new ShoalError(`${url}: stopped`));
    }
    o.signal.addEventListener('abort', onAbort, { once: true });
    const req = (where.startsWith('https:') ? httpsRequest : httpRequest)(where, { headers: { range: `bytes=${start}-${end}` } });
    req.on('error', (err) => fail(new ShoalError(`${url}: ${err.message}`)));
    req.on('response', (answer) => {
      lastByteAt = Date.now();
      if (answer.statusCode !== 206) {
        return fail(new ShoalError(`${url} answered HTTP ${answer.statusCode} to a Range request${answer.statusCode === 200 ? ' (it ignores Range)' : ''}`));
      }
      const length = Number(answer.headers['content-length']);
      if (length !== want) return fail(new ShoalError(`${url} sent ${answer.headers['content-length'] ?? 'no length'} for a range of ${want} bytes`));
      answer.on('data', (chunk: Buffer) => {
        if (settled) return;
        // Node's parser stops at the content length checked above; this holds if that ever changes.
        if (got + chunk.length > want) return fail(new ShoalError(`${url} sent more than the ${want} bytes asked for`));
        chunk.copy(out, got);
        got += chunk.length;
        lastByteAt = Date.now();
        o.onBytes(chunk.length);
        const waitMs = o.throttle.holdAfter(chunk.length);
        if (waitMs > 0 && got < want) {
          answer.pause();
          resumeTimer = setTimeout(() => {
            resumeTimer = undefined;
            if (!settled) answer.resume();
          }, waitMs);
        }
      });
      answer.on('end', () => {
        if (settled) return;
        if (got !== want) return fail(new ShoalError(`${url} sent ${got} of ${want} bytes`));
        settle();
        resolve(got);
      });
      // A connection that closes mid-answer ends with 'close' and no 'end'.
      answer.on('close', () => fail(new ShoalError(`${url} sent ${got} of ${want} bytes, then closed the connection`)));
      answer.on('error', (err) => fail(new ShoalError(`${url}: ${err.message} after ${got} of ${want} bytes`)));
    });
    req.end();
  });
}
