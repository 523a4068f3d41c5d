import pino from 'pino';

/**
 * Diagnostics, as JSON lines on stderr (the CLI's own output goes to stdout). Quiet by default;
 * SHOAL_LOG_LEVEL=info shows each step of a capture or deploy with its duration.
 */
export const log = pino({ name: 'shoal', level: process.env.SHOAL_LOG_LEVEL ?? 'warn' }, pino.destination(2));

/** Runs `fn` and logs how long it took, under `step`. */
export async function timed<T>(step: string, fn: () => Promise<T>, fields: Record<string, unknown> = {}): Promise<T> {
  const started = performance.now();
  try {
    return await fn();
  } finally {
    log.info({ step, ms: Math.round(performance.now() - started), ...fields }, step);
  }
}

/** A process's or module's own logger: its lines carry `component`. */
export function logger(component: string): pino.Logger {
  return log.child({ component });
}

/** timed() for a step that does not wait. */
export function timedSync<T>(step: string, fn: () => T, fields: Record<string, unknown> = {}): T {
  const started = performance.now();
  try {
    return fn();
  } finally {
    log.info({ step, ms: Math.round(performance.now() - started), ...fields }, step);
  }
}
