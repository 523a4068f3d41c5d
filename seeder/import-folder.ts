/**
 * An import job on a storage node: a FOG or Clonezilla image folder on the node, under the folder
 * its configuration allows (`--import-root`), made into a new version of an image in its store by
 * the `shoal import` CLI, run as a process of its own (processes never import each other's code).
 * The folder is checked first: no ".." step, nothing outside the root (an absolute path, or a
 * symbolic link, the folder's own or one inside it, leading out); the CLI is given the folder's
 * real path and the root (`--within`: it checks each file it opens again, against a link swapped in
 * after this check). Its progress comes as JSON lines on stdout; its error is its `shoal: error:` line.
 */
import { spawn } from 'node:child_process';
import { lstat, readdir, realpath, stat } from 'node:fs/promises';
import { isAbsolute, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { pathWithin } from '../shared/path-within.js';
import { ShoalError } from '../shared/errors.js';
import type { NodeJobOffer } from '../shared/http/node-jobs.js';

/** The built `shoal` CLI beside this process's own folder (dist/client/cli.js). */
export const DEFAULT_SHOAL_CLI = fileURLToPath(new URL('../client/cli.js', import.meta.url));
/** How many entries of a folder are looked at for links out of the root (a FOG image has a handful). */
const MAX_ENTRIES = 100_000;
const KILL_AFTER_MS = 10_000;

/** The real path of folder `dir` under `root`, or a ShoalError saying why it may not be imported. */
export async function importFolder(root: string | undefined, dir: string): Promise<string> {
  if (!root) throw new ShoalError('this storage node takes no imports: start it with --import-root DIR (the folder imports may read from)');
  if (dir.includes('\0') || dir.split(/[/\\]/).includes('..'))
    throw new ShoalError(`import folder "${dir}" has a ".." step: name a folder under the import root`);
  const realRoot = await realpath(root).catch(() => {
    throw new ShoalError(`the import root ${root} does not exist on this node`);
  });
  const given = isAbsolute(dir) ? resolve(dir) : resolve(root, dir);
  if (!pathWithin(given, resolve(root)) && !pathWithin(given, realRoot)) throw new ShoalError(`import folder ${dir} is outside the import root ${root}`);
  const real = await realpath(given).catch(() => {
    throw new ShoalError(`import folder ${dir} is not there (under the import root ${root})`);
  });
  if (!pathWithin(real, realRoot)) throw new ShoalError(`import folder ${dir} leads out of the import root ${root} through a symbolic link (to ${real})`);
  if (!(await stat(real)).isDirectory()) throw new ShoalError(`import folder ${dir} is not a folder`);
  // What the CLI will read inside it must not lead out either.
  let seen = 0;
  const walk = async (d: string): Promise<void> => {
    for (const e of await readdir(d)) {
      if (++seen > MAX_ENTRIES) throw new ShoalError(`import folder ${dir} holds more than ${MAX_ENTRIES} entries: not an image folder`);
      const p = join(d, e);
      const s = await lstat(p);
      if (s.isSymbolicLink()) {
        const to = await realpath(p).catch(() => undefined);
        if (!to || !pathWithin(to, realRoot)) throw new ShoalError(`${join(dir, relative(real, p))} is a symbolic link out of the import root ${root}`);
      } else if (s.isDirectory()) await walk(p);
    }
  };
  await walk(real);
  return real;
}

const CliLine = z.union([
  z.object({ progress: z.object({ doneBytes: z.number(), totalBytes: z.number() }) }),
  z.object({ imported: z.object({ name: z.string(), version: z.number(), dir: z.string(), infoHash: z.string() }) }),
]);

export interface ImportOptions {
  cli: string;
  store: string;
  root: string | undefined;
  image: string;
  version: number;
  job: Extract<NodeJobOffer['job'], { kind: 'import' }>;
  signal: AbortSignal;
  onProgress(doneBytes: number, totalBytes: number): void;
}

/** Runs `shoal import FORMAT DIR --store S --image NAME --version N [--type T] --progress-json`; the version it published. */
export async function runImport(o: ImportOptions): Promise<{ dir: string; infoHash: string }> {
  const dir = await importFolder(o.root, o.job.dir);
  // --within: the CLI checks every file it opens as well, so a link swapped in after the check above is refused, not followed.
  const within = await realpath(o.root!);
  const args = [
    o.cli,
    'import',
    o.job.format,
    dir,
    '--store',
    o.store,
    '--image',
    o.image,
    '--version',
    String(o.version),
    '--within',
    within,
    '--progress-json',
  ];
  if (o.job.type) args.push('--type', o.job.type);
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let imported: { name: string; version: number; dir: string; infoHash: string } | undefined;
  let stderr = '';
  let pending = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => {
    pending += d;
    const lines = pending.split('\n');
    pending = lines.pop()!;
    for (const line of lines) {
      let parsed: z.infer<typeof CliLine> | undefined;
      try {
        parsed = CliLine.parse(JSON.parse(line));
      } catch {
        continue; // not a progress line
      }
      if ('progress' in parsed) o.onProgress(parsed.progress.doneBytes, parsed.progress.totalBytes);
      else imported = parsed.imported;
    }
  });
  // Only the end matters: the error line is the last thing the CLI says.
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr = (stderr + d).slice(-8192)));
  const stop = (): void => {
    child.kill('SIGTERM');
    setTimeout(() => child.kill('SIGKILL'), KILL_AFTER_MS).unref();
  };
  o.signal.addEventListener('abort', stop, { once: true });
  const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((res, rej) => {
    child.once('error', rej);
    child.once('exit', (c, s) => res([c, s]));
  }).finally(() => o.signal.removeEventListener('abort', stop));
  if (o.signal.aborted) throw o.signal.reason instanceof Error ? o.signal.reason : new ShoalError('stopped');
  if (code !== 0) {
    const lines = stderr.split('\n').filter((l) => l.trim());
    const said =
      [...lines]
        .reverse()
        .find((l) => l.startsWith('shoal: error:'))
        ?.replace(/^shoal: error:\s*/, '') ?? lines.at(-1);
    throw new ShoalError(`shoal import failed (${signal ? `signal ${signal}` : `exit code ${code}`}): ${said ?? 'it said nothing'}`);
  }
  if (!imported) throw new ShoalError('shoal import ended without saying what it published');
  if (imported.name !== o.image || imported.version !== o.version)
    throw new ShoalError(`shoal import published ${imported.name} v${imported.version}, not ${o.image} v${o.version}`);
  return { dir: imported.dir, infoHash: imported.infoHash };
}
