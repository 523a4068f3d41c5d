/**
 * A PC's `--download-limit` in the swarm, shared fairly by its connections. webtorrent's own
 * (speed-limiter over limiter's TokenBucket) has no queue: when tokens come back, whichever
 * connection asks first takes them, and one whose chunk waits on a timer can lose every time to
 * one whose data keeps coming. Seen in the room-to-spare test on a loaded machine: the seeder's
 * connection took a PC's whole 1 MiB/s for 10 s while the other PC's sat unread, and with it that
 * PC's `interested` (a BitTorrent connection is one byte stream), so the two PCs never traded.
 * Here every chunk read from a connection books its time in one ByteThrottle, in the order read,
 * and a read booked ahead pauses its connection until its time (shared/webtorrent/direct-pipes.ts
 * holds it), so connections with data take turns, a socket read each. Chunks are not cut smaller:
 * 16 KiB slices were fairer by the byte but cost a PC 50 % more CPU per MiB (bench:swarm, N = 1).
 *
 * A read may run up to READ_AHEAD_MS ahead of the limit, as unicast's do, but only while no other
 * connection's read waits: a PC at 8 MiB/s then stops its socket once per several reads, not per
 * 64 KiB read (wakes a second 390 → 66, CPU about a fifth less: docs/benchmarks.md, "The swarm's
 * download limit reads ahead"), while two busy connections still alternate read by read. Without that condition, a
 * connection released from its wait ran ahead of the one still waiting: four or five reads to its
 * one (test/unit/download-limit.test.ts); that is probably why, in an earlier try without it,
 * the room-to-spare lab test's slow PC passed on 78 KiB where it passes on about a MiB.
 */
import { ByteThrottle, READ_AHEAD_MS } from '../deploy/byte-throttle.js';
import { clientThrottleGroups } from '../../shared/webtorrent/internals.js';
import type { DownloadGate } from '../../shared/webtorrent/direct-pipes.js';

/** What webtorrent's client asks of `throttleGroups.down` besides the gate direct-pipes uses. */
export interface FairDownloadGroup extends DownloadGate {
  setEnabled(enabled: boolean): void;
  setRate(rate: number): void;
  destroy(): void;
}

export function fairDownloadGroup(bytesPerSec: number): FairDownloadGroup {
  if (!(bytesPerSec > 0)) throw new Error(`a download limit needs a positive rate, not ${bytesPerSec}`);
  const limit = new ByteThrottle(bytesPerSec);
  const waits = new Set<NodeJS.Timeout>();
  return {
    // A connection holds at most one read booked ahead (its socket pauses while it waits); a read
    // that would run ahead while another waits waits too, behind it.
    hold(bytes: number, release: () => void): boolean {
      const ms = limit.reserve(bytes);
      if (ms <= (waits.size === 0 ? READ_AHEAD_MS : 0)) return false;
      const wait = setTimeout(() => {
        waits.delete(wait);
        release();
      }, ms);
      waits.add(wait);
      return true;
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
