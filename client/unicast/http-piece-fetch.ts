/**
 * One piece over HTTP from a storage node: a Range request per file range it lies in (one, for a
 * Shoal image), each answer checked for status and length before a byte is kept. A request that
 * receives nothing for IDLE_TIMEOUT_MS is given up; a slow one that flows is not (a download limit
 * may make a piece take long).
 */
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
}

export async function fetchPiece(index: number, o: PieceFetchOptions): Promise<Buffer> {
  const ranges = pieceRanges(o.layout, index);
  const total = ranges.reduce((n, r) => n + r.end - r.start + 1, 0);
  const out = Buffer.allocUnsafe(total);
  let filled = 0;
  for (const r of ranges) {
    const where = webSeedFileUrl(o.base, o.layout, r.path);
    // Errors name the URL without its key: they end up in the portal's host log.
    const url = withoutKey(where);
    const want = r.end - r.start + 1;
    const idle = new AbortController();
    const idleMs = o.idleTimeoutMs ?? IDLE_TIMEOUT_MS;
    let timer = setTimeout(() => idle.abort(new ShoalError(`${url}: nothing received for ${idleMs / 1000} s`)), idleMs);
    const poke = (): void => {
      clearTimeout(timer);
      timer = setTimeout(() => idle.abort(new ShoalError(`${url}: nothing received for ${idleMs / 1000} s`)), idleMs);
    };
    const signal = AbortSignal.any([o.signal, idle.signal]);
    try {
      const res = await fetch(where, { headers: { range: `bytes=${r.start}-${r.end}` }, signal });
      if (res.status !== 206) {
        await res.body?.cancel();
        throw new ShoalError(`${url} answered HTTP ${res.status} to a Range request${res.status === 200 ? ' (it ignores Range)' : ''}`);
      }
      const length = Number(res.headers.get('content-length'));
      if (length !== want) {
        await res.body?.cancel();
        throw new ShoalError(`${url} sent ${length} bytes for a range of ${want}`);
      }
      const reader = res.body!.getReader();
      let got = 0;
      // Bounded by the checked content length: more than asked is refused.
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        if (got + value.length > want) {
          await reader.cancel();
          throw new ShoalError(`${url} sent more than the ${want} bytes asked for`);
        }
        out.set(value, filled + got);
        got += value.length;
        poke();
        o.onBytes(value.length);
        await o.throttle.take(value.length, signal);
      }
      if (got !== want) throw new ShoalError(`${url} sent ${got} of ${want} bytes`);
      filled += got;
    } catch (err) {
      if (signal.aborted && signal.reason instanceof Error) throw signal.reason;
      throw err instanceof ShoalError
        ? err
        : new ShoalError(`${url}: ${(err as Error).message}${(err as { cause?: Error }).cause ? ` (${(err as { cause: Error }).cause.message})` : ''}`);
    } finally {
      clearTimeout(timer);
    }
  }
  return out;
}
