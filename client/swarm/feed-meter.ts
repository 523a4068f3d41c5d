/**
 * Whether this PC is waiting on the network rather than on itself: its download rate has fallen
 * well under the best it has had (room on its link), while its own event loop runs on time (its
 * CPU is not what holds it back). Only then is asking a storage node for more worth its upload: on
 * a PC short of CPU (or a test machine running 32 PCs on 2 cores) every PC looks underfed, and
 * more from the server only adds work. Sampled by the caller's own interval timer, whose lateness
 * is the event loop's.
 */
import { performance } from 'node:perf_hooks';

/**
 * One second: the swarm model's 1,000-PC campus (docs/swarm-model.md, "The feed window") finished
 * its full-rate PCs at 1.28x their bound with it against 1.33x with 2 s, since the last pieces of
 * a room wait on its slow PC's part until this window has seen the PCs' rate fall.
 *
 * The caller counts bytes a whole block at a time (64 KiB for 1 MiB pieces): a second holds
 * about 1,800 of them on 1 GbE, but only two at the lab simulator's 1 Mbit/s, where the rate then
 * reads in steps of half the link, its best is a lucky second and a PC fed steadily looks
 * underfed most of the time (docs/benchmarks.md, "N = 64 in the lab": counting per read is the
 * fix, and the room-to-spare rule has to be set again with it).
 */
const RATE_WINDOW_MS = 1_000;
const UNDERFED_SHARE = 0.8;
/**
 * Lateness of the sampling timer above which this PC counts as short of CPU, in any of the last
 * LAG_MEMORY samples: a loaded loop stalls in bursts (measured with 16 PCs on 2 cores: half-second
 * means of a 10 ms timer's lateness of 5 ms next to ones of 300 ms and more), so one calm sample
 * says little.
 *
 * The sampling timer itself is the probe. A 10 ms monitorEventLoopDelay woke every PC's loop a
 * hundred times a second to learn this: a quarter of what a lab PC at 1 Mbit/s spent in all (16
 * PCs, runs alternated: 43-52 ms of CPU a second each before, 34-38 after).
 */
const LAG_LIMIT_MS = 15;
const LAG_MEMORY = 4;

export interface FeedMeter {
  sample(): void;
  /** `rate` (by default this meter's over the last full window) is under UNDERFED_SHARE of the best. */
  underfed(rate?: number): boolean;
  /** The event loop ran late in one of the last LAG_MEMORY samples' spans. */
  lagging(): boolean;
  /** Bytes/s over the best full window so far. */
  best(): number;
  /** Bytes/s over the last full window. */
  current(): number;
  /** How late the last sample came, ms. */
  lateMs(): number;
}

/**
 * How late each call comes against a timer of `periodMs`: Node schedules an interval's next run
 * from when this one started, so the time between two runs is the period plus the later one's delay.
 */
export function samplerLateness(periodMs: number): () => number {
  let last: number | undefined;
  return () => {
    const at = performance.now();
    const late = last === undefined ? 0 : Math.max(0, at - last - periodMs);
    last = at;
    return late;
  };
}

export function feedMeter(bytes: () => number, now: () => number, lagMs: () => number): FeedMeter {
  const samples: Array<{ at: number; bytes: number }> = [];
  let best = 0;
  let current = 0;
  let lateMs = 0;
  const recentLate: number[] = [];
  return {
    sample(): void {
      lateMs = lagMs();
      recentLate.push(lateMs);
      if (recentLate.length > LAG_MEMORY) recentLate.shift();
      const at = now();
      samples.push({ at, bytes: bytes() });
      while (samples.length > 1 && at - samples[1]!.at >= RATE_WINDOW_MS) samples.shift();
      const first = samples[0]!;
      if (at - first.at < RATE_WINDOW_MS) return;
      current = ((samples[samples.length - 1]!.bytes - first.bytes) * 1000) / (at - first.at);
      best = Math.max(best, current);
    },
    underfed: (rate = current) => best > 0 && rate < UNDERFED_SHARE * best,
    lagging: () => recentLate.some((ms) => ms > LAG_LIMIT_MS),
    best: () => best,
    current: () => current,
    lateMs: () => lateMs,
  };
}
