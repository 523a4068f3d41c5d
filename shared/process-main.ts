/**
 * The tail of every server process's entry point: start, say where it listens (one JSON line on
 * stdout, which `shoal start` and the tests read), stop cleanly on SIGINT/SIGTERM, and exit non-zero
 * with one readable line when it cannot start.
 */
import { errorMessage } from './errors.js';

/** `said`: more for the JSON line (the portal's first admin, made on this start). */
export function runProcess(name: string, start: () => Promise<{ url: string; said?: Record<string, unknown>; close(): Promise<void> }>): void {
  start().then(
    (proc) => {
      process.stdout.write(`${JSON.stringify({ process: name, url: proc.url, pid: process.pid, ...proc.said })}\n`);
      const stop = () => {
        void proc.close().finally(() => process.exit(0));
        setTimeout(() => process.exit(0), 5_000).unref();
      };
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
    },
    (err) => {
      process.stderr.write(`shoal-${name}: error: ${errorMessage(err)}\n`);
      process.exit(1);
    },
  );
}
