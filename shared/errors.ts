/**
 * An error the user caused or can fix: the CLI prints its message as one line and exits non-zero,
 * without a stack trace. Anything else is a bug and keeps its stack.
 */
export class ShoalError extends Error {
  constructor(
    message: string,
    readonly exitCode = 1,
  ) {
    super(message);
    this.name = 'ShoalError';
  }
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
