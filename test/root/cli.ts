import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const CLI = fileURLToPath(new URL('../../client/cli.js', import.meta.url));

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the real `shoal` command, as an admin would. */
export function shoal(...args: string[]): CliResult {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 10 * 60_000 });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

export function shoalOk(...args: string[]): CliResult {
  const r = shoal(...args);
  if (r.code !== 0) throw new Error(`shoal ${args.join(' ')} exited ${r.code}: ${r.stderr}`);
  return r;
}

/** The error line of a failed command: exactly one line, starting "shoal: error:". */
export function shoalFails(...args: string[]): string {
  const r = shoal(...args);
  if (r.code === 0) throw new Error(`shoal ${args.join(' ')} should have failed`);
  const lines = r.stderr
    .trim()
    .split('\n')
    .filter((l) => !/^(capture|deploy|verify):/.test(l));
  if (lines.length !== 1 || !lines[0]!.startsWith('shoal: error: ')) throw new Error(`expected one error line, got: ${r.stderr}`);
  return lines[0]!;
}
