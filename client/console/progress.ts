import cliProgress from 'cli-progress';

export interface Progress {
  /** Sets the bytes done so far. */
  update(doneBytes: number): void;
  stop(): void;
}

const PLAIN_LINE_INTERVAL_MS = 5_000;

const human = (bytes: number): string => {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = bytes;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${v.toFixed(u ? 1 : 0)} ${units[u]}`;
};
export const formatBytes = human;

/**
 * A bar with bytes, rate and ETA on a terminal; on anything else (a log, CI, the PXE console
 * captured by the portal) a plain line every few seconds.
 */
export function createProgress(label: string, totalBytes: number, stream: NodeJS.WriteStream = process.stderr): Progress {
  const started = Date.now();
  const rate = (done: number): number => done / Math.max(0.001, (Date.now() - started) / 1000);
  if (stream.isTTY) {
    const bar = new cliProgress.SingleBar(
      {
        stream,
        format: `${label} [{bar}] {percentage}% | {doneH} / {totalH} | {rateH}/s | ETA {eta_formatted}`,
        hideCursor: true,
        etaBuffer: 50,
      },
      cliProgress.Presets.shades_classic,
    );
    bar.start(totalBytes, 0, { doneH: human(0), totalH: human(totalBytes), rateH: human(0) });
    return {
      update: (done) => bar.update(done, { doneH: human(done), totalH: human(totalBytes), rateH: human(rate(done)) }),
      stop: () => bar.stop(),
    };
  }
  let lastLine = 0;
  let last = 0;
  const line = (done: number): void => {
    const r = rate(done);
    const eta = r > 0 ? Math.round((totalBytes - done) / r) : 0;
    const pct = totalBytes ? ((100 * done) / totalBytes).toFixed(1) : '100.0';
    stream.write(`${label}: ${pct}% ${human(done)} / ${human(totalBytes)} at ${human(r)}/s, ETA ${eta}s\n`);
  };
  return {
    update(done) {
      last = done;
      if (Date.now() - lastLine >= PLAIN_LINE_INTERVAL_MS) {
        lastLine = Date.now();
        line(done);
      }
    },
    stop: () => line(last),
  };
}

/** For library callers and tests: no output at all. */
export const silentProgress = (): Progress => ({ update() {}, stop() {} });

const JSON_LINE_INTERVAL_MS = 1_000;

/**
 * One JSON object per line on stdout, about once a second and once at the end, for a program that
 * runs the CLI and shows its progress (a storage node running an import for the portal).
 */
export function jsonProgress(_label: string, totalBytes: number, stream: NodeJS.WritableStream = process.stdout): Progress {
  let lastLine = 0;
  let last = 0;
  const line = (done: number): void => void stream.write(JSON.stringify({ progress: { doneBytes: done, totalBytes } }) + '\n');
  return {
    update(done) {
      last = done;
      if (Date.now() - lastLine >= JSON_LINE_INTERVAL_MS) {
        lastLine = Date.now();
        line(done);
      }
    },
    stop: () => line(last),
  };
}
