/**
 * A PC's `--download-limit` in the swarm, shared fairly by its connections. webtorrent's own
 * (speed-limiter over limiter's TokenBucket) has no queue: when tokens come back, whichever
 * connection asks first takes them, and one whose chunk waits on a timer can lose every time to
 * one whose data keeps coming. Seen in the room-to-spare test on a loaded machine: the seeder's
 * connection took a PC's whole 1 MiB/s for 10 s while the other PC's sat unread, and with it that
 * PC's `interested` (a BitTorrent connection is one byte stream), so the two PCs never traded.
 * Here every slice of every connection takes its turn in ByteThrottle, which reserves time in the
 * order asked: each connection has at most one slice waiting (a stream transforms one chunk at a
 * time), so connections with data take turns, a block's worth (or a shorter read) each.
 */
import { Transform } from 'streamx';
import { ByteThrottle } from './byte-throttle.js';

/** A 16 KiB block: a 64 KiB read counts as four turns, not one against a 9-byte `have`. */
const SLICE_BYTES = 16 * 1024;

/** The part of speed-limiter's ThrottleGroup that webtorrent uses for `throttleGroups.down`. */
interface ThrottleGroupLike {
  throttle(): Transform;
  setEnabled(enabled: boolean): void;
  setRate(rate: number): void;
  destroy(): void;
}

export function fairDownloadGroup(bytesPerSec: number): ThrottleGroupLike {
  if (!(bytesPerSec > 0)) throw new Error(`a download limit needs a positive rate, not ${bytesPerSec}`);
  const limit = new ByteThrottle(bytesPerSec);
  const all = new AbortController();
  return {
    throttle(): Transform {
      const mine = new AbortController();
      const signal = AbortSignal.any([mine.signal, all.signal]);
      return new Transform({
        transform(chunk: Uint8Array, callback: (err?: Error | null) => void) {
          const pass = async (): Promise<void> => {
            for (let at = 0; at < chunk.length; at += SLICE_BYTES) {
              const slice = chunk.subarray(at, at + SLICE_BYTES);
              await limit.take(slice.length, signal);
              this.push(slice);
            }
          };
          pass().then(() => callback(), (err: unknown) => callback(signal.aborted ? null : (err as Error)));
        },
        // A closed connection's slice must not keep its place in the line.
        predestroy() {
          mine.abort();
        },
      });
    },
    // Shoal sets its limit once, at start; changing it on the fly is not wired through.
    setEnabled(): void {},
    setRate(): void {},
    destroy: () => all.abort(),
  };
}

/** Puts the fair limit in place of webtorrent's; call before the client makes any connection. */
export function useFairDownloadLimit(client: object, bytesPerSec: number): void {
  if (!(bytesPerSec > 0)) return;
  const c = client as { throttleGroups?: { down: unknown } };
  if (!c.throttleGroups || typeof c.throttleGroups !== 'object') throw new Error('webtorrent changed: client.throttleGroups is gone (see client/download-limit.ts)');
  c.throttleGroups.down = fairDownloadGroup(bytesPerSec);
}
