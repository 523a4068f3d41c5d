/**
 * npm run bench:swarm (root) — one image deployed to N = 1, 4, 8, 16 PCs through the lab's swarm,
 * beside plain HTTP unicast from the same seeder in the same run. Every PC is a real `shoal join`
 * process with its own disk-image file, its download and upload limited to LIMIT; the seeder's
 * upload is limited to LIMIT too (`shoal start --upload-limit`). The bound for any N is
 * image bytes / LIMIT: no PC can receive faster. Unicast is measured for N = 1 and 4 (N streams
 * from the seeder's HTTP, sharing LIMIT as its uplink would) and projected for more: it is N × T(1).
 * The deploy task starts together (minReceivers = N), and T runs from the group's start to the
 * last PC done: on this one machine the N PCs' start-up (about 1 s of CPU each: Node, the client,
 * its disk checks) runs a few at a time on 2 cores, where a lab's PCs boot each on its own CPU at
 * once. The `ready` column shows that start-up; --no-start-together runs each PC as it comes
 * instead, T then counting from spawning the first.
 * Options: --data-mib N (default 256), --limit-mib N (default 4), --piece-kib N (default: Shoal's),
 * --counts 1,4,8,16, --no-unicast (skip the unicast runs: they take N × the bound), --unbundled-pcs (the PCs
 * run tsc's dist/client/cli.js instead of the bundled PC client), --no-start-together,
 * --pc-node-flags "FLAGS" (Node flags for the PCs only, e.g. to profile them).
 * Client CPU: then one PC alone deploys the image from a seeder with no upload limit, by swarm and by
 * unicast, with no download limit and at 8 MiB/s, and aria2c fetches the same image's .torrent (with
 * web seeds) beside it, unlimited and at 8 MiB/s: user and system CPU of each process, whole run
 * (start-up included), per MiB the seeder sent. --client-cpu-repeat N (default 1) runs each N times
 * and prints the median and the spread; --no-client-cpu skips it; --client-cpu-only runs only it.
 * --client-cpu-data-mib N (default 1024) is its image's data, captured apart from --data-mib's:
 * start-up (about 0.4 s of CPU: Node, the bundled client, the disk checks) is paid once per deploy,
 * so on the group runs' small image it would be a fifth of what is printed per MiB; the issue's
 * reference figures were taken on an image of 1,167 MiB of data.
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync, truncateSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { fileURLToPath } from 'node:url';
import { parseScriptArgs } from './usage.js';
import { PortalClient } from '../shared/http/portal-client.js';
import { loopbackServer } from './loopback-server.js';
import { MiB } from './bench-disk.js';
import { captureDataImage, waitForHeldImage } from './lab/data-image.js';
import { SwarmTicketSchema, TaskSchema } from '../shared/http/portal-contract.js';
import { withHugePageMalloc } from './huge-page-malloc.js';
import { PC_NODE_FLAGS } from './pc-node-flags.js';

const { values } = parseScriptArgs(import.meta.url, {
  'data-mib': { type: 'string', default: '256' },
  'limit-mib': { type: 'string', default: '4' },
  'piece-kib': { type: 'string' },
  counts: { type: 'string', default: '1,4,8,16' },
  'no-unicast': { type: 'boolean', default: false },
  'no-start-together': { type: 'boolean', default: false },
  'unbundled-pcs': { type: 'boolean', default: false },
  'pc-node-flags': { type: 'string', default: '' },
  'no-client-cpu': { type: 'boolean', default: false },
  'client-cpu-only': { type: 'boolean', default: false },
  'client-cpu-repeat': { type: 'string', default: '1' },
  'client-cpu-data-mib': { type: 'string', default: '1024' },
});
// Node flags for the PCs only (e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof`, which NODE_OPTIONS refuses).
const PC_START_FLAGS = [...PC_NODE_FLAGS, ...values['pc-node-flags'].split(/\s+/).filter(Boolean)];
const LIMIT = Number(values['limit-mib']) * MiB;
const COUNTS = values.counts.split(',').map(Number);
const CLI = fileURLToPath(new URL('../client/cli.js', import.meta.url));
// The PCs run what a PXE-booted PC runs: the bundled client (scripts/build-pc-client.mjs).
const PC_CLI = values['unbundled-pcs'] ? CLI : fileURLToPath(new URL('../pc/cli.js', import.meta.url));
const POLL_MS = 250;
const CLOCK_TICKS = Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100;
const RUN_TIMEOUT_MS = 20 * 60_000;
/** The issue's lab link rate for one PC, for the client-CPU section's limited runs. */
const CPU_LIMIT_BYTES_PER_SEC = 8 * MiB;
const CPU_REPEAT = Math.max(1, Number(values['client-cpu-repeat']) || 1);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Peak RSS of a process so far (VmHWM), in bytes; 0 once it is gone. */
function peakRss(pid: number | undefined): number {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

/** CPU seconds (user + system) a process has used so far; 0 once it is gone. */
function cpuSeconds(pid: number | undefined): number {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8')
      .replace(/^.*\) /s, '')
      .split(' ');
    return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
  } catch {
    return 0;
  }
}

/** The machine's busy and total CPU time so far, in clock ticks (/proc/stat's first line). */
function machineTicks(): { busy: number; total: number } {
  const [, ...v] = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).map(Number);
  const total = v.reduce((a, b) => a + b, 0);
  return { busy: total - v[3]! - v[4]!, total };
}

/** Bytes the seeder sent (BitTorrent and HTTP): its `shoal_seeder_*_uploaded_bytes` counters, not its gauges. */
async function seederSentBytes(url: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  return text
    .split('\n')
    .filter((l) => /^shoal_seeder_\w+_uploaded_bytes[{ ]/.test(l))
    .reduce((n, l) => n + Number(l.split(' ').pop()), 0);
}

const dir = mkdtempSync(join(tmpdir(), 'shoal-bench-swarm-'));
const children: ChildProcess[] = [];
try {
  const pieceLength = values['piece-kib'] ? ['--piece-length', String(Number(values['piece-kib']) * 1024)] : [];
  const cpuMib = Number(values['client-cpu-data-mib']);
  if (!(cpuMib >= 16)) throw new Error('--client-cpu-data-mib: 16 or more');
  const group = values['client-cpu-only'] ? {} : await groupRuns(...dataImage(dir, Number(values['data-mib']), pieceLength));
  let cpu = {};
  if (!values['no-client-cpu']) {
    const [cpuStore, cpuDiskBytes, cpuImageBytes] = dataImage(join(dir, 'cpu-image'), cpuMib, pieceLength);
    cpu = await clientCpuRuns(cpuStore, cpuDiskBytes, cpuImageBytes);
  }
  console.log(JSON.stringify({ bench: 'swarm', ...group, ...cpu }));
} finally {
  for (const c of children) if (c.exitCode === null) c.kill('SIGTERM');
  await sleep(1000);
  rmSync(dir, { recursive: true, force: true });
}

/** A data disk of `dataMib` captured as image `bench` in `at`: the store, the disk's size, the image's stored bytes, its piece files. */
function dataImage(at: string, dataMib: number, extra: string[]): [string, number, number, string[]] {
  mkdirSync(at, { recursive: true });
  const { store, diskBytes } = captureDataImage(at, dataMib, 'bench', extra);
  const imageDir = join(store, 'bench', 'v1');
  const pieceFiles = readdirSync(imageDir).filter((f) => f.endsWith('.pieces'));
  return [store, diskBytes, pieceFiles.reduce((n, f) => n + statSync(join(imageDir, f)).size, 0), pieceFiles];
}

/** The group runs (swarm of N PCs beside unicast), their table and JSON line. */
async function groupRuns(store: string, diskBytes: number, image: number, pieceFiles: string[]): Promise<Record<string, number>> {
  const srv = await loopbackServer({ data: join(dir, 'data'), store, extra: ['--upload-limit', String(LIMIT)] });
  const server = spawn(process.execPath, [CLI, ...srv.args], { stdio: ['ignore', 'ignore', 'inherit'] });
  children.push(server);
  const portal = srv.portal;
  const seeder = `http://127.0.0.1:${srv.seederPort}`;
  const admin = new PortalClient({ url: portal, token: await waitForHeldImage(portal, join(dir, 'data')) });

  const swarm = async (n: number) => {
    const macs = Array.from({ length: n }, (_, i) => `52:54:00:aa:${n.toString(16).padStart(2, '0')}:${i.toString(16).padStart(2, '0')}`);
    const together = !values['no-start-together'];
    const task = await admin.post(TaskSchema, '/api/v1/tasks', {
      kind: 'deploy',
      image: 'bench',
      hosts: macs,
      lingerSeconds: 600,
      ...(together && { minReceivers: n, maxWaitSeconds: 300 }),
    });
    const seededBefore = await seederSentBytes(seeder);
    const disks = macs.map((_, i) => {
      const p = join(dir, `pc-${i}.img`);
      writeFileSync(p, '');
      truncateSync(p, diskBytes);
      return p;
    });
    const started = Date.now();
    const pcs = macs.map((mac, i) => {
      const c = spawn(
        process.execPath,
        [
          ...PC_START_FLAGS,
          PC_CLI,
          'join',
          '--portal',
          portal,
          '--disk',
          disks[i]!,
          '--mac',
          mac,
          '--download-limit',
          String(LIMIT),
          '--upload-limit',
          String(LIMIT),
        ],
        { stdio: ['ignore', 'ignore', 'pipe'], env: withHugePageMalloc(process.env) },
      );
      children.push(c);
      return c;
    });
    let rss = 0;
    const pcCpu = pcs.map(() => 0);
    /** Each PC's CPU seconds when the portal first had its progress: what starting cost it. */
    const startCpu = new Map<string, number>();
    let ticksBefore = machineTicks();
    let doneAt = 0;
    let joinedAt = 0;
    let startedAt = together ? 0 : started;
    // Bounded by RUN_TIMEOUT_MS.
    while (!doneAt && Date.now() - started < RUN_TIMEOUT_MS) {
      await sleep(POLL_MS);
      pcs.forEach((c, i) => {
        rss = Math.max(rss, peakRss(c.pid));
        pcCpu[i] = Math.max(pcCpu[i]!, cpuSeconds(c.pid));
      });
      const t = await admin.get(TaskSchema, `/api/v1/tasks/${task.id}`);
      if (t.hosts.some((h) => h.state === 'failed')) throw new Error(`a PC failed: ${JSON.stringify(t.hosts.find((h) => h.state === 'failed'))}`);
      for (const h of t.hosts) {
        if (h.progress && !startCpu.has(h.mac)) startCpu.set(h.mac, pcCpu[macs.indexOf(h.mac)] ?? 0);
      }
      if (!joinedAt && t.hosts.every((h) => h.progress)) joinedAt = Date.now();
      if (!startedAt && t.startedAt) {
        startedAt = Date.parse(t.startedAt);
        ticksBefore = machineTicks();
      }
      if (t.groupDone) doneAt = Date.now();
    }
    if (!doneAt) throw new Error(`N=${n}: not done after ${RUN_TIMEOUT_MS / 1000} s`);
    const ticksAfter = machineTicks();
    const cpuBusy = (ticksAfter.busy - ticksBefore.busy) / (ticksAfter.total - ticksBefore.total);
    await Promise.all(pcs.map((c) => new Promise((r) => (c.exitCode !== null ? r(null) : c.once('exit', r)))));
    const seeded = (await seederSentBytes(seeder)) - seededBefore;
    for (const p of disks) rmSync(p, { force: true });
    const pcCpuSeconds = pcCpu.reduce((a, b) => a + b, 0) / n;
    const startCpuSeconds = [...startCpu.values()].reduce((a, b) => a + b, 0) / Math.max(1, startCpu.size);
    if (!startedAt) throw new Error(`N=${n}: the task never said when it started`);
    return {
      seconds: (doneAt - startedAt) / 1000,
      fromSpawn: (doneAt - started) / 1000,
      joined: ((together ? startedAt : joinedAt || doneAt) - started) / 1000,
      seeded,
      rss,
      pcCpuSeconds,
      startCpuSeconds,
      cpuBusy,
    };
  };

  /** N streams of the whole image from the seeder's HTTP, sharing LIMIT bytes/s as one uplink. */
  const unicast = async (n: number) => {
    let budget = 0;
    let last = Date.now();
    const take = async (bytes: number) => {
      // Bounded: each wait is at most the time LIMIT needs for these bytes.
      for (;;) {
        const now = Date.now();
        budget = Math.min(LIMIT, budget + ((now - last) / 1000) * LIMIT);
        last = now;
        if (budget >= bytes) return void (budget -= bytes);
        await sleep(Math.ceil(((bytes - budget) / LIMIT) * 1000));
      }
    };
    // The seeder serves image reads to a key holder only: the web seed URL of a ticket carries one.
    const webSeed = (await admin.post(SwarmTicketSchema, '/api/v1/images/bench/ticket', {})).unicast[0]!;
    const started = Date.now();
    await Promise.all(
      Array.from({ length: n }, async () => {
        for (const f of pieceFiles) {
          const res = await fetch(`${webSeed}v1/${f}`);
          for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) await take(chunk.length);
        }
      }),
    );
    return (Date.now() - started) / 1000;
  };

  const bound = image / LIMIT;
  const rows: Array<{
    n: number;
    seconds: number;
    fromSpawn: number;
    joined: number;
    seeded: number;
    rss: number;
    pcCpuSeconds: number;
    startCpuSeconds: number;
    cpuBusy: number;
    unicast: number;
    projected: boolean;
  }> = [];
  const unicast1 = values['no-unicast'] ? NaN : await unicast(1);
  for (const n of COUNTS) {
    const r = await swarm(n);
    const measured = values['no-unicast'] ? NaN : n <= 4 ? (n === 1 ? unicast1 : await unicast(n)) : n * unicast1;
    rows.push({ n, ...r, unicast: measured, projected: n > 4 });
  }
  const t1 = rows.find((r) => r.n === 1)?.seconds ?? NaN;
  console.log(
    `swarm benchmark: image ${(image / MiB).toFixed(1)} MiB (${values['data-mib']} MiB of files), every PC and the seeder limited to ${(LIMIT / MiB).toFixed(1)} MiB/s, bound ${bound.toFixed(1)} s, ${execFileSync('nproc').toString().trim()} cores`,
  );
  console.log(
    `${'N'.padStart(3)} ${'swarm s'.padStart(9)} ${'÷bound'.padStart(7)} ${'T/T1'.padStart(6)} ${'seeder MiB'.padStart(11)} ${'÷image'.padStart(7)} ${'max RSS'.padStart(9)} ${'unicast s'.padStart(11)} ${'ready s'.padStart(8)} ${'spawn→done s'.padStart(13)} ${'PC CPU ms/MiB'.padStart(14)} ${'start CPU s'.padStart(12)} ${'CPU'.padStart(5)}`,
  );
  for (const r of rows) {
    console.log(
      `${String(r.n).padStart(3)} ${r.seconds.toFixed(1).padStart(9)} ${(r.seconds / bound).toFixed(2).padStart(7)} ${(Number.isNaN(t1) ? '-' : (r.seconds / t1).toFixed(2)).padStart(6)} ${(r.seeded / MiB).toFixed(1).padStart(11)} ${(r.seeded / image).toFixed(2).padStart(7)} ${`${(r.rss / MiB).toFixed(0)} MiB`.padStart(9)} ${(Number.isNaN(r.unicast) ? 'skipped' : `${r.unicast.toFixed(1)}${r.projected ? '*' : ''}`).padStart(11)} ${r.joined.toFixed(1).padStart(8)} ${r.fromSpawn.toFixed(1).padStart(13)} ${((r.pcCpuSeconds * 1000) / (image / MiB)).toFixed(1).padStart(14)} ${r.startCpuSeconds.toFixed(2).padStart(12)} ${`${Math.round(r.cpuBusy * 100)}%`.padStart(5)}`,
    );
  }
  console.log(
    `(swarm s: from the group's start${values['no-start-together'] ? ' (each PC as it came: from spawning them)' : ''} to the last PC done. * projected: N × the unicast time of one PC.`,
    ' ready: from spawning the PCs until the group started (each as it came: until every PC had reported once).',
    ' PC CPU: user + system CPU of one PC process, on average, per MiB of image; start CPU: until its first report.',
    " CPU: the machine's busy share while the PCs ran.)",
  );
  const last = rows[rows.length - 1]!;
  server.kill('SIGTERM');
  await new Promise((r) => (server.exitCode !== null ? r(null) : server.once('exit', r)));
  return {
    n: last.n,
    ratio_to_bound: +(last.seconds / bound).toFixed(3),
    t16_over_t1: +(last.seconds / t1).toFixed(3),
    seeder_upload_over_image: +(last.seeded / image).toFixed(3),
    max_client_rss_mib: Math.round(Math.max(...rows.map((r) => r.rss)) / MiB),
  };
}

/** User and system CPU seconds of a command run under GNU time, and whether it succeeded. */
async function timedRun(cmd: string[], env?: NodeJS.ProcessEnv): Promise<{ user: number; sys: number; code: number | null; stderr: string }> {
  const out = join(dir, 'time.txt');
  const c = spawn('/usr/bin/time', ['-o', out, '-f', '%U %S', ...cmd], { stdio: ['ignore', 'ignore', 'pipe'], env });
  children.push(c);
  let stderr = '';
  c.stderr.on('data', (d: Buffer) => void (stderr = (stderr + d.toString()).slice(-4000)));
  const timer = setTimeout(() => c.kill('SIGTERM'), RUN_TIMEOUT_MS);
  const code = await new Promise<number | null>((r) => c.once('exit', r));
  clearTimeout(timer);
  const [user, sys] = readFileSync(out, 'utf8').trim().split('\n').pop()!.split(' ').map(Number);
  return { user: user ?? NaN, sys: sys ?? NaN, code, stderr };
}

function median(xs: number[]): number {
  return [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)]!;
}

/**
 * One PC alone, then aria2c, each fetching the whole image from a seeder with no upload limit:
 * the client's CPU (user + system, whole process) per MiB the seeder sent, unlimited and at 8 MiB/s.
 */
async function clientCpuRuns(store: string, diskBytes: number, image: number): Promise<Record<string, number>> {
  const srv = await loopbackServer({ data: join(dir, 'data-cpu'), store });
  const server = spawn(process.execPath, [CLI, ...srv.args], { stdio: ['ignore', 'ignore', 'inherit'] });
  children.push(server);
  const seeder = `http://127.0.0.1:${srv.seederPort}`;
  const token = await waitForHeldImage(srv.portal, join(dir, 'data-cpu'));
  const admin = new PortalClient({ url: srv.portal, token });
  const torrentFile = join(dir, 'bench.torrent');
  execFileSync(process.execPath, [CLI, 'torrent', '--portal', srv.portal, '--image', 'bench', '--out', torrentFile, '--token', token], {
    stdio: 'ignore',
  });
  let run = 0;
  type Who = 'swarm' | 'unicast' | 'aria2c';
  const once = async (who: Who, limit: number) => {
    run++;
    const before = await seederSentBytes(seeder);
    let cmd: string[];
    let env: NodeJS.ProcessEnv | undefined;
    const disk = join(dir, 'cpu-pc.img');
    const out = join(dir, 'aria2');
    if (who === 'aria2c') {
      rmSync(out, { recursive: true, force: true });
      cmd = [
        'aria2c',
        '--dir',
        out,
        '--seed-time=0',
        '--enable-dht=false',
        '--enable-dht6=false',
        '--bt-enable-lpd=false',
        '--enable-peer-exchange=false',
        '--summary-interval=0',
        '--console-log-level=warn',
        '--allow-overwrite=true',
        ...(limit ? [`--max-download-limit=${limit}`] : []),
        torrentFile,
      ];
    } else {
      const mac = `52:54:00:cc:00:${(run % 256).toString(16).padStart(2, '0')}`;
      await admin.post(TaskSchema, '/api/v1/tasks', { kind: 'deploy', image: 'bench', hosts: [mac], lingerSeconds: 0 });
      writeFileSync(disk, '');
      truncateSync(disk, diskBytes);
      cmd = [
        process.execPath,
        ...PC_START_FLAGS,
        PC_CLI,
        'join',
        '--portal',
        srv.portal,
        '--disk',
        disk,
        '--mac',
        mac,
        '--transport',
        who,
        ...(limit ? ['--download-limit', String(limit)] : []),
      ];
      env = withHugePageMalloc(process.env);
    }
    const t0 = Date.now();
    const r = await timedRun(cmd, env);
    const seconds = (Date.now() - t0) / 1000;
    rmSync(disk, { force: true });
    rmSync(out, { recursive: true, force: true });
    if (r.code !== 0) throw new Error(`${who} (limit ${limit}) failed (${r.code}): ${r.stderr}`);
    // At least the image: every client receives all of it, and the seeder's HTTP counter missed
    // part of what aria2c fetched from the web seed (133 of 172 MiB once), ranges it closed early.
    const wireMib = Math.max((await seederSentBytes(seeder)) - before, image) / MiB;
    return { user: (r.user * 1000) / wireMib, sys: (r.sys * 1000) / wireMib, wireMib, seconds };
  };
  const results: Array<{ who: Who; limit: number; total: number[]; user: number; sys: number; wireMib: number; seconds: number }> = [];
  for (const limit of [0, CPU_LIMIT_BYTES_PER_SEC]) {
    for (const who of ['swarm', 'unicast', 'aria2c'] as const) {
      const rs = [];
      for (let i = 0; i < CPU_REPEAT; i++) rs.push(await once(who, limit));
      const total = rs.map((x) => x.user + x.sys);
      const mid = rs[total.indexOf(median(total))]!;
      results.push({ who, limit, total, ...mid });
    }
  }
  server.kill('SIGTERM');
  await new Promise((r) => (server.exitCode !== null ? r(null) : server.once('exit', r)));
  console.log(
    `client CPU: one client alone, image ${(image / MiB).toFixed(1)} MiB, seeder unlimited, ${CPU_REPEAT} run(s) each; CPU ms per MiB the seeder sent (median; spread min–max)`,
  );
  console.log(
    `${'client'.padEnd(8)} ${'limit'.padStart(9)} ${'wire MiB'.padStart(9)} ${'s'.padStart(6)} ${'ms/MiB'.padStart(7)} ${'user'.padStart(6)} ${'sys'.padStart(6)} ${'spread'.padStart(12)}`,
  );
  for (const r of results) {
    console.log(
      `${r.who.padEnd(8)} ${(r.limit ? `${r.limit / MiB} MiB/s` : 'none').padStart(9)} ${r.wireMib.toFixed(1).padStart(9)} ${r.seconds.toFixed(1).padStart(6)} ${(r.user + r.sys).toFixed(1).padStart(7)} ${r.user.toFixed(1).padStart(6)} ${r.sys.toFixed(1).padStart(6)} ${`${Math.min(...r.total).toFixed(1)}–${Math.max(...r.total).toFixed(1)}`.padStart(12)}`,
    );
  }
  console.log('(whole process, start-up included: a few hundred ms of CPU for a Shoal PC; aria2c decompresses nothing and writes the stored pieces as files)');
  const ms = (who: Who, limit: number) => {
    const r = results.find((x) => x.who === who && x.limit === limit)!;
    return +(r.user + r.sys).toFixed(2);
  };
  return {
    client_cpu_ms_per_mib: ms('swarm', 0),
    aria2c_cpu_ms_per_mib: ms('aria2c', 0),
    client_cpu_ms_per_mib_at_8mib: ms('swarm', CPU_LIMIT_BYTES_PER_SEC),
    aria2c_cpu_ms_per_mib_at_8mib: ms('aria2c', CPU_LIMIT_BYTES_PER_SEC),
    unicast_client_cpu_ms_per_mib: ms('unicast', 0),
    unicast_client_cpu_ms_per_mib_at_8mib: ms('unicast', CPU_LIMIT_BYTES_PER_SEC),
  };
}
