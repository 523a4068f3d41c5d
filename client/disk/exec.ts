import { spawn } from 'node:child_process';
import { ShoalError } from '../../shared/errors.js';

export interface RunResult {
  stdout: string;
  stderr: string;
  code: number;
}

/** Time any external tool may take before we give up on it. */
const TOOL_TIMEOUT_MS = 30 * 60_000;

/**
 * Runs an external tool (partclone, sfdisk, resize2fs …). A non-zero exit becomes a one-line
 * ShoalError naming the tool and its last words, unless `okCodes` says that exit is an answer.
 */
export function run(cmd: string, args: string[], opts: { input?: string; okCodes?: number[] } = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'], timeout: TOOL_TIMEOUT_MS });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', (err: NodeJS.ErrnoException) =>
      reject(new ShoalError(err.code === 'ENOENT' ? `${cmd} is not installed (run scripts/setup.sh)` : `${cmd}: ${err.message}`)),
    );
    child.on('close', (code, signal) => {
      const result = { stdout, stderr, code: code ?? -1 };
      if (code === 0 || (code !== null && opts.okCodes?.includes(code))) return resolve(result);
      const last = (stderr.trim() || stdout.trim()).split('\n').filter(Boolean).pop() ?? '';
      reject(new ShoalError(`${cmd} ${args.join(' ')} failed (${signal ?? `exit ${code}`})${last ? `: ${last.trim()}` : ''}`));
    });
    child.stdin.on('error', () => {}); // a tool that exits without reading its input is judged by its exit code
    child.stdin.end(opts.input ?? '');
  });
}
