/**
 * A PC's `--download-limit` in the swarm, shared fairly by its connections. webtorrent's own
 * (speed-limiter over limiter's TokenBucket) has no queue: when tokens come back, whichever
 * connection asks first takes them, and one whose chunk waits on a timer can lose every time to
 * one whose data keeps coming. Seen in the room-to-spare test on a loaded machine: the seeder's
 * connection took a PC's whole 1 MiB/s for 10 s while the other PC's sat unread, and with it that
 * PC's `interested` (a BitTorrent connection is one byte stream), so the two PCs never traded.
 * Here every chunk read from a connection books its time in one ByteThrottle, in the order read:
 * a connection has at most one chunk waiting (a stream transforms one chunk at a time), so
 * connections with data take turns, a socket read each. Chunks are not cut smaller: 16 KiB slices
 * were fairer by the byte but cost a PC 50 % more CPU per MiB (bench:swarm, N = 1). Nor does a
 * chunk pass while the limit is behind by less than READ_AHEAD_MS, as unicast's do: that cut the
 * swarm's CPU at 8 MiB/s by an eighth, but in the room-to-spare lab test the slow PC then passed on
 * 958 and 78 KiB where it had passed on more than a MiB (docs/benchmarks.md, 2026-12-05).
 */
import { Transform } from 'streamx';
import { ByteThrottle } from '../deploy/byte-throttle.js';
import { clientThrottleGroups } from '../../shared/webtorrent/internals.js';

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
  const waits = new Set<NodeJS.Timeout>();
  return {
    throttle(): Transform {
      let waiting: NodeJS.Timeout | undefined;
      return new Transform({
        transform(chunk: Uint8Array, callback: (err?: Error | null, data?: Uint8Array) => void) {
          const ms = limit.reserve(chunk.length);
          if (ms <= 0) return callback(null, chunk);
          waits.add(
            (waiting = setTimeout(() => {
              waits.delete(waiting!);
              waiting = undefined;
              callback(null, chunk);
            }, ms)),
          );
        },
        // A closed connection's chunk must not be passed on later (its place is kept: one read).
        predestroy() {
          clearTimeout(waiting);
          waits.delete(waiting!);
        },
      });
    },
    // Shoal sets its limit once, at start; changing it on the fly is not wired through.
    setEnabled(): void {},
    setRate(): void {},
    destroy(): void {
      for (const w of waits) clearTimeout(w);
      waits.clear();
    },
  };
}

/** Puts the fair limit in place of webtorrent's; call before the client makes any connection. */
export function useFairDownloadLimit(client: object, bytesPerSec: number): void {
  if (!(bytesPerSec > 0)) return;
  clientThrottleGroups(client).down = fairDownloadGroup(bytesPerSec);
}
