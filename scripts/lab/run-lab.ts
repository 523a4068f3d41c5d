/**
 * The lab simulator's runs: the real server processes (`shoal start`: portal, tracker, seeder) in
 * the server namespace, `shoal join` in each client namespace deploying to its own disk-image
 * file, one deploy task for all of them per round. Measures when each PC holds the whole image
 * (its state reaches seeding or done), the machine's CPU use over the round, and what the seeder
 * sent. Everything is torn down at the end, also when a round fails.
 *
 * A lab (openLab) runs as many rounds as asked on the same PCs' disks, as a real lab re-images the
 * same rooms: a round may start from blank disks or from what the last round left on them.
 * runLab is one round on blank disks.
 *
 * Times count from the group's start, not from spawning the PCs: here N PCs' start-up (about 1 s
 * of CPU each) shares 2 cores, where a lab's PCs boot each on its own CPU. A swarm or unicast task
 * starts together (minReceivers = N: the portal's startedAt); a multicast session waits for its
 * receivers anyway, and its start is taken as the moment its minimum of receivers had reported.
 */
import type { ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createLabNet, type LabNetOptions } from './netns.js';
import { caOfDataDir, PortalClient } from '../../shared/http/portal-client.js';
import { ImageListSchema, TaskSchema, type ImageVersion, type Task, type TaskHost } from '../../shared/http/portal-contract.js';
import { withHugePageMalloc } from '../huge-page-malloc.js';
import { PC_NODE_FLAGS } from '../pc-node-flags.js';

const CLI = fileURLToPath(new URL('../../client/cli.js', import.meta.url));
/** The PCs run what a network-booted PC runs: the bundled client (scripts/build-pc-client.mjs). */
const PC_CLI = fileURLToPath(new URL('../../pc/cli.js', import.meta.url));
const POLL_MS = 250;
const PORTAL_PORT = 8080;
const SEEDER_PORT = 8081;

export interface LabOptions extends LabNetOptions {
  /** Working directory (data, client disks). */
  dir: string;
  /** A store holding `image`. */
  store: string;
  image: string;
  /** Each client's disk size. */
  diskBytes: number;
  /** Called with each line the server or a client writes to stderr (for a verbose run). */
  log?: (who: string, line: string) => void;
}

export interface RoundOptions {
  /** The image of this round (default: the lab's), its newest version or `version`. */
  image?: string;
  version?: number;
  /** Start from blank disks (default), or from what the last round left on them. */
  blankDisks?: boolean;
  /** How the PCs fetch the image (`shoal join --transport`); swarm when absent. */
  transport?: 'swarm' | 'unicast' | 'multicast';
  timeoutMs?: number;
  /** A multicast task's session settings (default: every PC, 120 s). */
  multicast?: { minReceivers: number; maxWaitSeconds: number };
  /** Milliseconds each PC starts after the first (default: all at once). */
  startDelaysMs?: number[];
  /** A swarm or unicast task waits for all its PCs before starting (default true). */
  startTogether?: boolean;
  /** More environment for one PC's `shoal join` (fault injection in tests). */
  clientEnv?: Record<number, Record<string, string>>;
  /** Node flags for one PC's `shoal join` (`--cpu-prof`: Node refuses it in NODE_OPTIONS). */
  clientNodeFlags?: Record<number, string[]>;
}

export type RunLabOptions = LabOptions & RoundOptions;

export interface LabResult {
  /** Seconds from the group's start until each PC held the whole image. */
  clientSeconds: number[];
  lastSeconds: number;
  /** Seconds from spawning the PCs until the group started. */
  readySeconds: number;
  /** Seconds from spawning the PCs until each held the whole image: what a re-image that checks its disk first takes. */
  spawnSeconds: number[];
  imageBytes: number;
  seederSentBytes: number;
  /** Share of both cores busy from the group's start until the last PC held the image, 0..1. */
  cpuBusy: number;
  /** Exit codes of the `shoal join` processes. */
  exitCodes: Array<number | null>;
  /** Each PC's last progress report (with the pieces each transport delivered). */
  reports: Array<{
    transport?: string;
    piecesByTransport?: Record<string, number>;
    downloadedBytes?: number;
    piecesDone?: number;
    piecesTotal?: number;
  } | null>;
  /** The TCP congestion control the namespaces ran (the host's when the one asked for was not allowed). */
  tcpCongestion: string;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Busy and total jiffies of all CPUs, from /proc/stat. */
function cpuTimes(): { busy: number; total: number } {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  const idle = f[3]! + (f[4] ?? 0);
  const total = f.reduce((a, b) => a + b, 0);
  return { busy: total - idle, total };
}

/** A lab up and ready for rounds: the server has published the lab's image. */
export interface Lab {
  /** PC i's disk-image file. */
  disk(i: number): string;
  /** One deploy task for every PC; resolves when each holds the image and has exited. */
  round(r?: RoundOptions): Promise<LabResult>;
  /** Makes the seeder look at its store now (a version captured into it since) and waits until the portal lists `image` v`version`. */
  published(image: string, version: number): Promise<void>;
  close(): Promise<void>;
}

export async function runLab(o: RunLabOptions): Promise<LabResult> {
  const lab = await openLab(o);
  try {
    return await lab.round(o);
  } finally {
    await lab.close();
  }
}

export async function openLab(o: LabOptions): Promise<Lab> {
  const net = createLabNet(o);
  const children: ChildProcess[] = [];
  // What each process said last, for the error when one fails in a run that is not verbose.
  const lastWords = new Map<string, string[]>();
  const watch = (who: string, c: ChildProcess): ChildProcess => {
    children.push(c);
    let buf = '';
    const said: string[] = [];
    lastWords.set(who, said);
    c.stderr?.on('data', (d) => {
      buf += d;
      const lines = buf.split('\n');
      buf = lines.pop()!;
      for (const l of lines) {
        o.log?.(who, l);
        said.push(l);
        if (said.length > 5) said.shift();
      }
    });
    return c;
  };
  const close = async (): Promise<void> => {
    for (const c of children) if (c.exitCode === null) c.kill('SIGTERM');
    await Promise.all(
      children.map((c) =>
        c.exitCode !== null
          ? Promise.resolve()
          : new Promise((r) => {
              c.once('exit', r);
              setTimeout(() => c.kill('SIGKILL'), 5_000).unref();
            }),
      ),
    );
    net.teardown();
  };
  const portal = `http://${net.server.addr}:${PORTAL_PORT}`;
  let token = '';
  // Over HTTPS trusting the portal's own certificate (read when first needed: the portal makes it at its start).
  const admin = () => new PortalClient({ url: portal, token, ca: caOfDataDir(join(o.dir, 'data')), timeoutMs: 10_000 });
  /** The image's version (default: its newest) once a storage node holds it. */
  const listed = async (name: string, version?: number): Promise<ImageVersion | undefined> => {
    const versions = (await admin().get(ImageListSchema, '/api/v1/images')).images.find((x) => x.name === name)?.versions ?? [];
    const v = version === undefined ? versions.at(-1) : versions.find((x) => x.version === version);
    return v?.nodes.length ? v : undefined;
  };
  const disk = (i: number): string => join(o.dir, `pc-${i}.img`);
  const macs = net.clients.map((_, i) => `52:54:00:77:${(i >> 8).toString(16).padStart(2, '0')}:${(i & 255).toString(16).padStart(2, '0')}`);
  try {
    const data = join(o.dir, 'data');
    mkdirSync(data, { recursive: true });
    watch(
      'server',
      net.server.spawn(
        process.execPath,
        [
          CLI,
          'start',
          '--data',
          data,
          '--store',
          o.store,
          '--advertise',
          net.server.addr,
          '--port',
          String(PORTAL_PORT),
          '--seeder-port',
          String(SEEDER_PORT),
          '--multicast-interface',
          'eth0',
        ],
        { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, SHOAL_LOG_LEVEL: process.env.SHOAL_LOG_LEVEL ?? 'warn' } },
      ),
    );
    let image: ImageVersion | undefined;
    // Bounded: 120 tries, 0.5 s apart.
    for (let i = 0; i < 120 && !image; i++) {
      await sleep(500);
      try {
        token = readFileSync(join(data, 'admin-token'), 'utf8').trim();
        image = await listed(o.image);
      } catch {
        /* not up yet */
      }
    }
    if (!image) throw new Error(`the lab server did not publish ${o.image} within 60 s`);
  } catch (err) {
    await close();
    throw err;
  }

  const round = async (r: RoundOptions = {}): Promise<LabResult> => {
    const name = r.image ?? o.image;
    const image = await listed(name, r.version);
    if (!image) throw new Error(`the lab server does not list ${name}${r.version ? ` v${r.version}` : ''}`);
    // The figures are per byte of the image: a version listed without its size gives none.
    const imageBytes = image.sizeBytes;
    if (imageBytes === null) throw new Error(`the lab server lists ${name} v${image.version} without its size`);
    const task = await admin().post(
      TaskSchema,
      '/api/v1/tasks',
      r.transport === 'multicast'
        ? {
            kind: 'multicast',
            image: name,
            version: image.version,
            hosts: macs,
            minReceivers: r.multicast?.minReceivers ?? macs.length,
            maxWaitSeconds: r.multicast?.maxWaitSeconds ?? 120,
          }
        : {
            kind: 'deploy',
            image: name,
            version: image.version,
            hosts: macs,
            lingerSeconds: 600,
            ...(r.startTogether !== false && { minReceivers: macs.length }),
          },
    );
    const sentBefore = await seederSent(net.server.addr);
    let cpu0 = cpuTimes();
    const started = Date.now();
    // A PC that exits with an error before it holds the image fails the run now, not at the timeout.
    const failedPcs: Array<{ i: number; code: number | null }> = [];
    const pcs: ChildProcess[] = [];
    const exits = net.clients.map(async (c, i) => {
      if (r.blankDisks !== false) {
        writeFileSync(disk(i), '');
        truncateSync(disk(i), o.diskBytes);
      }
      await sleep(r.startDelaysMs?.[i] ?? 0);
      const child = watch(
        `pc${i}`,
        c.spawn(
          process.execPath,
          [
            ...PC_NODE_FLAGS,
            ...(r.clientNodeFlags?.[i] ?? []),
            PC_CLI,
            'join',
            '--portal',
            portal,
            '--disk',
            disk(i),
            '--mac',
            macs[i]!,
            ...(r.transport === 'unicast' ? ['--transport', 'unicast'] : []),
          ],
          { stdio: ['ignore', 'ignore', 'pipe'], env: withHugePageMalloc({ ...process.env, ...r.clientEnv?.[i] }) },
        ),
      );
      pcs.push(child);
      return new Promise<number | null>((resolve) =>
        child.once('exit', (code) => {
          if (code !== 0) failedPcs.push({ i, code });
          resolve(code);
        }),
      );
    });
    try {
      const holdsAt = new Map<string, number>();
      let groupStartedAt = 0;
      let last: TaskHost[] = [];
      const timeoutMs = r.timeoutMs ?? 30 * 60_000;
      // Bounded by timeoutMs.
      while (holdsAt.size < macs.length) {
        if (Date.now() - started > timeoutMs) throw new Error(`not every PC had the image after ${timeoutMs / 1000} s (${holdsAt.size} of ${macs.length})`);
        await sleep(POLL_MS);
        const gone = failedPcs.find(({ i }) => !holdsAt.has(macs[i]!));
        if (gone)
          throw new Error(`pc${gone.i} exited (code ${gone.code}) before it held the image: ${lastWords.get(`pc${gone.i}`)!.join(' | ') || 'it said nothing'}`);
        let t: Task;
        try {
          t = await admin().get(TaskSchema, `/api/v1/tasks/${task.id}`);
        } catch (err) {
          // 32 PCs starting on two cores can keep the portal from answering for a while: ask again.
          o.log?.('harness', `task poll: ${(err as Error).message}`);
          continue;
        }
        last = t.hosts;
        if (!groupStartedAt) {
          if (t.startedAt) groupStartedAt = Date.parse(t.startedAt);
          else if (r.transport === 'multicast' && t.hosts.filter((h) => h.progress).length >= (t.minReceivers ?? t.hosts.length)) groupStartedAt = Date.now();
          // CPU use is that of the transfer, not of the PCs' start-up.
          if (groupStartedAt) cpu0 = cpuTimes();
        }
        const failed = t.hosts.find((h) => h.state === 'failed');
        if (failed) throw new Error(`PC ${failed.mac} failed: ${failed.error}`);
        for (const h of t.hosts) if (!holdsAt.has(h.mac) && (h.state === 'seeding' || h.state === 'done')) holdsAt.set(h.mac, Date.now());
      }
      const cpu1 = cpuTimes();
      const exitCodes = await Promise.all(exits);
      // Read after every PC has left: a PC's last pieces from the seeder are counted too.
      const seederSentBytes = (await seederSent(net.server.addr)) - sentBefore;
      const final = (await admin().get(TaskSchema, `/api/v1/tasks/${task.id}`)).hosts;
      const from = groupStartedAt || started;
      const clientSeconds = macs.map((m) => (holdsAt.get(m)! - from) / 1000);
      return {
        tcpCongestion: net.tcpCongestion,
        clientSeconds,
        lastSeconds: Math.max(...clientSeconds),
        readySeconds: (from - started) / 1000,
        imageBytes,
        seederSentBytes,
        spawnSeconds: macs.map((m) => (holdsAt.get(m)! - started) / 1000),
        cpuBusy: (cpu1.busy - cpu0.busy) / (cpu1.total - cpu0.total),
        exitCodes,
        reports: macs.map((m) => final.find((h) => h.mac === m)?.progress ?? last.find((h) => h.mac === m)?.progress ?? null),
      };
    } finally {
      // A round that failed leaves no PC behind to write into the next one's disks.
      for (const c of pcs) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
      await Promise.all(exits.map((e) => e.catch(() => null)));
    }
  };

  const published = async (name: string, version: number): Promise<void> => {
    await fetch(`http://${net.server.addr}:${SEEDER_PORT}/rescan`, { method: 'POST', signal: AbortSignal.timeout(30_000) }).catch(() => {});
    // Bounded: 60 tries, 0.5 s apart.
    for (let i = 0; i < 60; i++) {
      if (await listed(name, version).catch(() => undefined)) return;
      await sleep(500);
    }
    throw new Error(`the lab server did not publish ${name} v${version} within 30 s`);
  };

  return { disk, round, published, close };
}

/** Bytes the seeder has sent, over BitTorrent and HTTP (its /metrics). */
async function seederSent(addr: string): Promise<number> {
  const text = await (await fetch(`http://${addr}:${SEEDER_PORT}/metrics`, { signal: AbortSignal.timeout(10_000) })).text();
  return text
    .split('\n')
    .filter((l) => /^shoal_seeder_\w+_uploaded_bytes[{ ]/.test(l))
    .reduce((n, l) => n + Number(l.split(' ').pop()), 0);
}
