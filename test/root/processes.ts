/**
 * Real processes for the lab tests: `shoal start` (portal, tracker, seeder) and PCs running
 * `shoal join`, each killed at the end even when a test fails. With them what the tests share about
 * them: the image they deploy, the admin's typed client of their portal (answers checked against
 * the contract), and the arguments that put a server on loopback with free ports.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { cleanup, labPcDisk, makeDisk, MiB, type FixtureDisk } from './fixtures.js';
import { shoalOk } from './cli.js';
import { openImage } from '../../shared/image/store.js';
import type { Manifest } from '../../shared/image/manifest.js';
import { PortalClient } from '../../shared/http/portal-client.js';
import { ImageListSchema, StorageNodeListSchema, TaskSchema, type Task } from '../../shared/http/portal-contract.js';
import { CHECKED_PORTAL_ENV, freePort, loopbackServer } from '../../scripts/loopback-server.js';

/**
 * The image the lab tests deploy: the lab PC's disk (without NTFS, which these tests do not look
 * into) captured into `dir/store` as `lab`, multipart, in 256 KiB pieces so that a deploy has many.
 */
export async function captureLabImage(dir: string): Promise<{ store: string; disk: FixtureDisk; manifest: Manifest }> {
  const store = join(dir, 'store');
  const disk = labPcDisk(dir, { ntfs: false });
  shoalOk('capture', '--disk', disk.path, '--store', store, '--image', 'lab', '--type', 'multipart', '--piece-length', String(256 * 1024));
  return { store, disk, manifest: (await openImage(store, 'lab')).manifest };
}

/**
 * What the portal's browser tests start from: a small GPT disk with one ext4 partition captured
 * as image `lab` (multipart), and a lab serving it whose admin logs in with `adminPassword`.
 */
export async function startPortalLab(
  dir: string,
  adminPassword: string,
  o: { dataMib?: number } = {},
): Promise<{ lab: Lab; disk: FixtureDisk; store: string }> {
  const store = join(dir, 'store');
  const disk = makeDisk(dir, 'src.img', 64, 'gpt', [{ sizeMiB: 40, fs: 'ext4', name: 'root' }], o.dataMib ?? 4);
  shoalOk('capture', '--disk', disk.path, '--store', store, '--image', 'lab', '--type', 'multipart');
  return { lab: await startLabProcesses(dir, [store], [], 1, { adminPassword }), disk, store };
}

/**
 * A test file's end, even after a failure: what it opened (a browser) closed first, then its lab
 * stopped, every process it spawned killed, and its disks, loops and mounts cleaned up.
 */
export async function endLab(lab: Lab | undefined, ...opened: Array<{ close(): Promise<unknown> } | undefined>): Promise<void> {
  for (const o of opened) await o?.close();
  if (lab) await stopLab(lab);
  await killAll();
  cleanup();
}

/** A free loopback port (the tests take it from here). */
export { freePort };

const CLI = fileURLToPath(new URL('../../client/cli.js', import.meta.url));
const running = new Set<ChildProcess>();

export interface Exited {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Starts `shoal ...` in the background; `exited` settles when it ends. */
export function shoalBackground(args: string[], env: Record<string, string> = {}): { child: ChildProcess; exited: Promise<Exited> } {
  // Any portal it starts (shoal start) checks its answers against the contract.
  const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...CHECKED_PORTAL_ENV, ...env } });
  running.add(child);
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  const exited = new Promise<Exited>((resolve) =>
    child.once('exit', (code) => {
      running.delete(child);
      resolve({ code, stdout, stderr });
    }),
  );
  return { child, exited };
}

export async function killAll(): Promise<void> {
  const waits = [...running].map(
    (c) =>
      new Promise((r) => {
        c.once('exit', r);
        c.kill('SIGTERM');
        setTimeout(() => c.kill('SIGKILL'), 5_000).unref();
      }),
  );
  await Promise.all(waits);
}

/** Polls `check` every 200 ms until it returns something, at most `ms`. */
export async function waitFor<T>(what: string, ms: number, check: () => Promise<T | undefined>): Promise<T> {
  const until = Date.now() + ms;
  let last: unknown;
  while (Date.now() < until) {
    try {
      const v = await check();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`timed out after ${ms} ms waiting for ${what}${last ? ` (last: ${(last as Error).message})` : ''}`);
}

export interface LabServer {
  portal: string;
  tracker: string;
  seeder: string;
  token: string;
  stop(): Promise<void>;
  exited: Promise<Exited>;
}

/** `shoal start` on free loopback ports, over an existing store; resolves once the image is published. */
export async function startLab(data: string, store: string, opts: { uploadLimit?: number; image?: string; extra?: string[] } = {}): Promise<LabServer> {
  const srv = await loopbackServer({ data, store, extra: [...(opts.uploadLimit ? ['--upload-limit', String(opts.uploadLimit)] : []), ...(opts.extra ?? [])] });
  const { child, exited } = shoalBackground(srv.args, { ...srv.env, SHOAL_LOG_LEVEL: process.env.SHOAL_LOG_LEVEL ?? 'warn' });
  const portal = srv.portal;
  let stopping = false;
  // A server process dying mid-test is the finding: say so with what it printed.
  void exited.then((e) => {
    if (!stopping) console.error(`\n  shoal start exited (code ${e.code}) during the test:\n${e.stderr.split('\n').slice(-30).join('\n')}`);
  });
  const lab: LabServer = {
    portal,
    tracker: `http://127.0.0.1:${srv.trackerPort}`,
    seeder: `http://127.0.0.1:${srv.seederPort}`,
    token: '',
    exited,
    stop: async () => {
      stopping = true;
      child.kill('SIGTERM');
      await exited;
    },
  };
  const early = exited.then((e) => {
    throw new Error(`shoal start exited ${e.code}: ${e.stderr}`);
  });
  early.catch(() => {});
  await Promise.race([early, waitFor('the portal', 30_000, async () => ((await fetch(`${portal}/healthz`)).ok ? true : undefined))]);
  lab.token = readFileSync(join(data, 'admin-token'), 'utf8').trim();
  if (opts.image) {
    await Promise.race([
      early,
      waitFor(`image ${opts.image} published`, 30_000, async () => {
        const { images } = await labClient(lab).get(ImageListSchema, '/api/v1/images');
        return images.some((i) => i.name === opts.image && i.nodes.length) ? true : undefined;
      }),
    ]);
  }
  return lab;
}

/**
 * The admin's client of a portal under test: once more when a socket was dropped (see fetchRetry),
 * and patient (a test's portal shares two cores with its PCs). Its failures are PortalErrors with
 * the status and what the portal said.
 */
export const adminClient = (url: string, token: string): PortalClient => new PortalClient({ url, token, retries: 1, timeoutMs: 60_000 });

/** What a tracker's /swarms answers (tracker/server.ts): each swarm it holds, by info hash. */
export const TrackerSwarmsSchema = z.object({
  swarms: z.array(z.object({ infoHash: z.string(), seeders: z.number(), leechers: z.number(), completed: z.number() })),
});

/** Each option given a free loopback port of its own: `--port 41234 --bt-port 41235`. */
export async function withFreePorts(...options: string[]): Promise<string[]> {
  const args: string[] = [];
  for (const option of options) args.push(option, String(await freePort()));
  return args;
}

/** The admin's client of a `shoal start` lab. */
export const labClient = (lab: LabServer): PortalClient => adminClient(lab.portal, lab.token);

/** What every portal a test starts on its own takes: its data directory, a free loopback port, no wake; then `extra`. */
export const loopbackPortalArgs = async (data: string, ...extra: string[]): Promise<string[]> => [
  '--data',
  data,
  ...(await withFreePorts('--port')),
  '--host',
  '127.0.0.1',
  '--no-wake',
  ...extra,
];

/** Where a storage node a test starts listens and says PCs reach it: loopback, free HTTP and BitTorrent ports. */
export const loopbackSeederArgs = async (): Promise<string[]> => [
  '--advertise',
  '127.0.0.1',
  '--host',
  '127.0.0.1',
  ...(await withFreePorts('--http-port', '--bt-port')),
];

/** A Prometheus counter or gauge's sum over its labels. */
/**
 * fetch, once more on a dropped keep-alive socket: the tests block their event loop in spawnSync
 * while a server closes idle sockets, so the pool hands out one whose close it has not seen yet.
 */
export async function fetchRetry(url: string, init?: RequestInit): Promise<Response> {
  try {
    return await fetch(url, init);
  } catch {
    return await fetch(url, init);
  }
}

export async function metric(url: string, name: string): Promise<number> {
  const res = await fetchRetry(`${url}/metrics`);
  const text = await res.text();
  return text
    .split('\n')
    .filter((l) => l.startsWith(`${name}{`) || l.startsWith(`${name} `))
    .reduce((n, l) => n + Number(l.split(' ').pop()), 0);
}

const ENTRY = (folder: string) => fileURLToPath(new URL(`../../${folder}/main.js`, import.meta.url));

export interface ServerProcess {
  url: string;
  child: ChildProcess;
  exited: Promise<Exited>;
  kill(signal?: NodeJS.Signals): Promise<void>;
}

/** One server process (`portal`, `tracker` or `seeder`) on its own; resolves once it listens. */
export async function startProcess(folder: 'portal' | 'tracker' | 'seeder', args: string[], env: Record<string, string> = {}): Promise<ServerProcess> {
  const child = spawn(process.execPath, [ENTRY(folder), ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...CHECKED_PORTAL_ENV, SHOAL_LOG_LEVEL: process.env.SHOAL_LOG_LEVEL ?? 'warn', ...env },
  });
  running.add(child);
  let stdout = '';
  let stderr = '';
  // SHOAL_TEST_SERVER_LOGS=1 shows what the server processes log, as it comes.
  child.stderr.on('data', (d) => {
    stderr += d;
    if (process.env.SHOAL_TEST_SERVER_LOGS) process.stderr.write(`[${folder}] ${d}`);
  });
  const exited = new Promise<Exited>((resolve) =>
    child.once('exit', (code) => {
      running.delete(child);
      resolve({ code, stdout, stderr });
    }),
  );
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${folder} did not start: ${stderr}`)), 30_000);
    child.stdout.on('data', (d) => {
      stdout += d;
      const line = stdout.split('\n')[0];
      if (stdout.includes('\n') && line) {
        clearTimeout(timer);
        resolve((JSON.parse(line) as { url: string }).url);
      }
    });
    void exited.then((e) => reject(new Error(`${folder} exited ${e.code}: ${e.stderr}`)));
  });
  return {
    url,
    child,
    exited,
    kill: async (signal = 'SIGKILL') => {
      child.kill(signal);
      await exited;
    },
  };
}

export interface Lab {
  /** The portal's data directory (its lab-secret lets a test start another node). */
  data: string;
  portal: ServerProcess;
  tracker: ServerProcess;
  seeders: ServerProcess[];
  token: string;
  /** The admin's client of its portal. */
  client: PortalClient;
}

/**
 * Portal, tracker and storage nodes, each its own process (not `shoal start`, which stops all
 * three when one dies): one node per store, then one per replica store (with --replicate).
 * Resolves once `images` images are published and held by every node.
 */
/**
 * A portal, a tracker and a seeder per store (`replicas` replicate), on loopback; waits until the
 * seeders hold `images` images. `adminPassword`: the first admin's, for tests that log in.
 */
export async function startLabProcesses(
  dir: string,
  stores: string[],
  replicas: string[] = [],
  images = 0,
  opts: { database?: string; adminPassword?: string } = {},
): Promise<Lab> {
  const data = join(dir, `data-${Date.now()}`);
  const trackerPort = await freePort();
  const trackerUrl = `http://127.0.0.1:${trackerPort}`;
  const portal = await startProcess(
    'portal',
    await loopbackPortalArgs(data, '--tracker', trackerUrl, ...(opts.database ? ['--database', opts.database] : [])),
    opts.adminPassword ? { SHOAL_ADMIN_PASSWORD: opts.adminPassword } : {},
  );
  const secret = join(data, 'lab-secret');
  const tracker = await startProcess('tracker', ['--portal', portal.url, '--secret-file', secret, '--port', String(trackerPort), '--host', '127.0.0.1']);
  const seeders: ServerProcess[] = [];
  for (const [i, store] of [...stores, ...replicas].entries()) {
    seeders.push(
      await startProcess('seeder', [
        ...(i >= stores.length ? ['--replicate'] : []),
        '--store',
        store,
        '--secret-file',
        secret,
        '--portal',
        portal.url,
        '--tracker',
        trackerUrl,
        '--name',
        `node${i}`,
        ...(await loopbackSeederArgs()),
        '--upload-limit',
        String(2 * MiB),
      ]),
    );
  }
  const token = readFileSync(join(data, 'admin-token'), 'utf8').trim();
  const client = adminClient(portal.url, token);
  if (images) {
    await waitFor(`${images} image(s) on ${stores.length + replicas.length} node(s)`, 60_000, async () => {
      const list = (await client.get(ImageListSchema, '/api/v1/images')).images;
      return list.length === images && list.every((i) => i.nodes.length === stores.length + replicas.length) ? true : undefined;
    });
  } else {
    await waitFor('every node reporting', 30_000, async () =>
      (await client.get(StorageNodeListSchema, '/api/v1/nodes')).nodes.length === stores.length + replicas.length ? true : undefined,
    );
  }
  return { data, portal, tracker, seeders, token, client };
}

export async function stopLab(lab: Lab | undefined): Promise<void> {
  if (!lab) return;
  for (const p of [...lab.seeders, lab.tracker, lab.portal]) if (p.child.exitCode === null) await p.kill('SIGTERM');
}

/** Waits until every host of the task has at least `fraction` of its pieces. */
export const progressed = (lab: Lab, taskId: number, fraction: number): Promise<Task> =>
  waitFor(`${fraction * 100}% on every PC`, 60_000, async () => {
    const t = await lab.client.get(TaskSchema, `/api/v1/tasks/${taskId}`);
    return t.hosts.every((h) => h.progress && h.progress.piecesDone >= fraction * h.progress.piecesTotal) ? t : undefined;
  });
