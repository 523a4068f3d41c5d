/**
 * What the lab simulator measured, to check the model against (docs/benchmarks.md). Only runs
 * where the links, not this 2-core machine's CPU, were the limit: the lab's PCs each have a CPU of
 * their own, the model has none. All on the flat lab bridge, TCP cubic, a 43.0 MiB image of 1 MiB
 * pieces, the server at ten times a PC's rate.
 * - N = 1, 4, 16 at 16 Mbit/s: bench:lab, 2026-11-25 morning ("Latest run": 23.8, 24.6, 25.8 s;
 *   CPU 6, 21, 78 %). Its N = 32 (38.9 s) was 93 % busy, CPU-bound, so it is left out here.
 * - N = 32 at 2 and 4 Mbit/s: "Room to spare at N = 32" (2026-11-25, the group's-size rule, the
 *   code bench:lab ran): 212.4, 215.5 and 215.0 s at 2 Mbit/s (CPU 60-69 %), 109.1 and 109.8 s at
 *   4 Mbit/s (88-90 %); the mean of each.
 * - N = 1 at 2 Mbit/s: 189.2 s, the same section.
 * The lab's N = 64 runs (docs/benchmarks.md, 2026-12-05) were CPU-bound at 70 and 81 % busy even at
 * the 0.5 Mbit/s floor, so they are left out too.
 */
export interface LabRun {
  pcs: number;
  pcMbitPerS: number;
  /** Seconds from the group's start until the last PC held the image. */
  lastSeconds: number;
  /** What the server sent, in images, when the run reported it. */
  seederImages?: number;
  source: string;
}

export const LAB_RUNS: LabRun[] = [
  { pcs: 1, pcMbitPerS: 16, lastSeconds: 23.8, seederImages: 1.0, source: 'bench:lab 2026-11-25' },
  { pcs: 4, pcMbitPerS: 16, lastSeconds: 24.6, seederImages: 3.53, source: 'bench:lab 2026-11-25' },
  { pcs: 16, pcMbitPerS: 16, lastSeconds: 25.8, seederImages: 8.15, source: 'bench:lab 2026-11-25' },
  { pcs: 1, pcMbitPerS: 2, lastSeconds: 189.2, source: 'lab 2026-11-25, room to spare at N = 32' },
  { pcs: 32, pcMbitPerS: 4, lastSeconds: (109.1 + 109.8) / 2, seederImages: (9.5 + 9.8) / 2, source: 'lab 2026-11-25, room to spare at N = 32' },
  { pcs: 32, pcMbitPerS: 2, lastSeconds: (212.4 + 215.5 + 215.0) / 3, seederImages: (9.3 + 9.8 + 10.0) / 3, source: 'lab 2026-11-25, room to spare at N = 32' },
];

/**
 * bench:lab's faulty runs, 2026-11-25 morning: N = 16 at 16 Mbit/s, PC 0 at half rate and PC 1
 * dropping 1 % of the packets it receives, three runs: the half-rate PC took 48.3-48.7 s, the lossy
 * one 25.5-27.4 s, and the other PCs' last moved 0.6, -2.9 and 2.1 % against a clean run just before.
 */
export const LAB_FAULTY = {
  pcs: 16,
  pcMbitPerS: 16,
  slowFactor: 0.5,
  lossPercent: 1,
  slowSeconds: (48.3 + 48.7) / 2,
  lossySeconds: (25.5 + 27.4) / 2,
  othersShiftPct: 0.6,
  source: 'bench:lab 2026-11-25, faulty pairs',
};
