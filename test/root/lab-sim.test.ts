/**
 * The lab simulator (scripts/lab): real Shoal processes in network namespaces on a bridge
 * attached to nothing, links shaped with tc tbf, one client slowed and one losing packets; and
 * what it leaves behind: nothing, also after a run that was killed.
 */
import { suite } from '../suite.js';
import * as assert from 'uvu/assert';
import { execFileSync, spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { assertPartitionsDeployed, cleanup, makeDisk, MiB, workDir } from './fixtures.js';
import { shoalOk } from './cli.js';
import { waitFor } from './processes.js';
import { runLab } from '../../scripts/lab/run-lab.js';
import { createLabNet, DEFAULT_TCP_CC, labLeftovers, sweepStaleLabNets } from '../../scripts/lab/netns.js';

const T = suite('lab simulator');
T.after(() => cleanup());

/** The lab's image: a 48 MiB GPT disk with a 32 MiB ext4, captured as `lab`, and what runLab needs of it for three PCs. */
function labImage(pieceLength?: number) {
  const dir = workDir();
  const src = makeDisk(dir, 'src.img', 48, 'gpt', [{ sizeMiB: 32, fs: 'ext4', name: 'root' }], 8);
  const store = join(dir, 'store');
  shoalOk(
    'capture',
    '--disk',
    src.path,
    '--store',
    store,
    '--image',
    'lab',
    '--type',
    'multipart',
    ...(pieceLength ? ['--piece-length', String(pieceLength)] : []),
  );
  return { dir, src, lab: { dir, store, image: 'lab', diskBytes: 48 * MiB, clients: 3, serverMbit: 160, timeoutMs: 180_000 } };
}

T('PCs in namespaces deploy over shaped links; the slow one takes its bound; the lossy one finishes; nothing is left', async () => {
  const { dir, src, lab } = labImage();
  const r = await runLab({
    ...lab,
    clientMbit: 16,
    slow: { index: 0, factor: 0.5 },
    lossy: { index: 1, percent: 1 },
  });
  assert.equal(r.exitCodes, [0, 0, 0]);
  for (let i = 0; i < 3; i++) assertPartitionsDeployed(src, join(dir, `pc-${i}.img`), dir);
  // The slow client's link (8 Mbit/s) cannot carry the image faster than this: tbf is in force.
  const slowBound = r.imageBytes / (8e6 / 8);
  console.log(
    `  image ${(r.imageBytes / MiB).toFixed(1)} MiB; PCs held it after ${r.clientSeconds.map((s) => s.toFixed(1)).join(', ')} s (slow bound ${slowBound.toFixed(1)} s); CPU ${(r.cpuBusy * 100).toFixed(0)} %`,
  );
  assert.ok(r.clientSeconds[0]! >= slowBound, `the slow PC took ${r.clientSeconds[0]} s, under its link's bound ${slowBound} s`);
  assert.equal(labLeftovers(), [], 'namespaces, bridge and veths gone');
});

T('unicast to three PCs in namespaces: every disk checks out, every piece over HTTP', async () => {
  const { dir, src, lab } = labImage(256 * 1024);
  const r = await runLab({
    ...lab,
    clientMbit: 80,
    transport: 'unicast',
  });
  assert.equal(r.exitCodes, [0, 0, 0]);
  for (let i = 0; i < 3; i++) assertPartitionsDeployed(src, join(dir, `pc-${i}.img`), dir);
  const total = r.reports[0]!.piecesByTransport!.unicast;
  assert.ok(total! > 1);
  assert.equal(
    r.reports.map((p) => p?.piecesByTransport),
    [0, 1, 2].map(() => ({ unicast: total })),
  );
  assert.ok(r.seederSentBytes >= 3 * r.imageBytes * 0.99, 'the node sent the image three times');
  assert.equal(labLeftovers(), []);
});

T(
  'a multicast task: two PCs take the stream (one losing 2 % of its packets), a piece spoilt on one disk is repaired, a PC that comes too late gets every piece over unicast',
  async () => {
    const { dir, src, lab } = labImage(256 * 1024);
    const r = await runLab({
      ...lab,
      clientMbit: 80,
      transport: 'multicast',
      lossy: { index: 1, percent: 2 },
      multicast: { minReceivers: 2, maxWaitSeconds: 10 },
      startDelaysMs: [0, 0, 25_000],
      // PC 0 spoils piece 3 on its disk right after writing it: the read-back check must catch it.
      clientEnv: { 0: { SHOAL_FAULT_SPOIL_MULTICAST_PIECE: '3' } },
    });
    assert.equal(r.exitCodes, [0, 0, 0]);
    for (let i = 0; i < 3; i++) assertPartitionsDeployed(src, join(dir, `pc-${i}.img`), dir);
    const by = r.reports.map((p) => p?.piecesByTransport ?? {});
    console.log(`  pieces by transport: ${JSON.stringify(by)}; done after ${r.clientSeconds.map((s) => s.toFixed(1)).join(', ')} s`);
    const total = Object.values(by[1]!).reduce((a, b) => a + b, 0);
    assert.equal(by[0], { multicast: total, unicast: 1 }, 'PC 0 took every piece from the stream, and its spoilt piece again over unicast');
    // The lossy PC usually takes the stream too. Once (a CI run, 2026-11-24) udp-sender never saw it
    // within the 10 s wait and streamed to PC 0 alone; its pieces then all came over unicast, which
    // is the fallback doing its job, so what is asserted is that every piece arrived one way or the other.
    assert.is((by[1]!.multicast ?? 0) + (by[1]!.unicast ?? 0), total, 'the lossy PC got every piece, from the stream or over unicast');
    assert.is(by[2]!.unicast, total, 'the late PC got every piece over unicast');
    assert.equal(labLeftovers(), []);
  },
);

/** A harness that builds a lab of two PCs, starts `sleep` in the server's and a PC's namespace (as a run starts the portal and the PCs) and says their pids. */
function startHarness() {
  const netns = fileURLToPath(new URL('../../scripts/lab/netns.js', import.meta.url));
  const code = `import(${JSON.stringify(netns)}).then((m) => {
    const net = m.createLabNet({ clients: 2, clientMbit: 16, serverMbit: 160 });
    const pids = [net.server, net.clients[1]].map((h) => h.spawn('sleep', ['600'], { stdio: 'ignore' }).pid);
    console.log('up ' + pids.join(' '));
    setInterval(() => {}, 1000);
  })`;
  const child = spawn(process.execPath, ['--input-type=module', '-e', code], { stdio: ['ignore', 'pipe', 'inherit'] });
  let said = '';
  child.stdout.on('data', (d) => (said += d));
  const pids = waitFor('the lab network up', 20_000, async () => (/up [\d ]+\n/.test(said) ? said.trim().split(' ').slice(1).map(Number) : undefined));
  return { child, pids };
}

/** Running, and not a zombie waiting for whoever inherited it to reap it. */
const alive = (pid: number): boolean => {
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
};

T("on a host whose kernel does not allow cubic to namespaces, the lab allows it while it sets up, runs it, and puts the host's list back", () => {
  const ALLOWED = '/proc/sys/net/ipv4/tcp_allowed_congestion_control';
  const before = readFileSync(ALLOWED, 'utf8').trim();
  // A fresh machine of this project's kind allows only "reno bbr": make this one look the same.
  const withoutCubic =
    before
      .split(/\s+/)
      .filter((c) => c !== DEFAULT_TCP_CC)
      .join(' ') || 'reno';
  writeFileSync(ALLOWED, withoutCubic);
  const net = createLabNet({ clients: 1, clientMbit: 10, serverMbit: 10 });
  try {
    assert.is(net.tcpCongestion, DEFAULT_TCP_CC);
    for (const h of [net.server, ...net.clients]) {
      assert.is(
        execFileSync('ip', ['netns', 'exec', h.ns, 'cat', '/proc/sys/net/ipv4/tcp_congestion_control'], { encoding: 'utf8' }).trim(),
        DEFAULT_TCP_CC,
        h.ns,
      );
    }
    assert.is(readFileSync(ALLOWED, 'utf8').trim(), withoutCubic, "the host's allowed list is as it was");
  } finally {
    net.teardown();
    writeFileSync(ALLOWED, before);
  }
  assert.equal(labLeftovers(), []);
});

T('a run interrupted mid-way takes its namespaces, links and the processes in them away', async () => {
  const { child, pids } = startHarness();
  const inside = await pids;
  assert.ok(inside.every(alive), 'the processes in the namespaces run');
  // Every namespace runs the TCP the PCs' kernels would (cubic), not whatever this machine's is.
  for (const ns of labLeftovers().filter((n) => n.startsWith('shoal-lab-'))) {
    assert.is(execFileSync('ip', ['netns', 'exec', ns, 'cat', '/proc/sys/net/ipv4/tcp_congestion_control'], { encoding: 'utf8' }).trim(), DEFAULT_TCP_CC, ns);
  }
  child.kill('SIGINT');
  await new Promise((r) => child.once('exit', r));
  // Bounded: 20 tries, 0.1 s apart (SIGKILL is delivered at once, but reaping takes a moment).
  for (let i = 0; i < 20 && inside.some(alive); i++) await new Promise((r) => setTimeout(r, 100));
  assert.equal(inside.filter(alive), [], 'no process outlives the interrupted run');
  assert.equal(labLeftovers(), []);
});

T('a run killed mid-way leaves namespaces that the next run sweeps away, with the processes in them', async () => {
  const { child, pids } = startHarness();
  const inside = await pids;
  child.kill('SIGKILL');
  await new Promise((r) => child.once('exit', r));
  assert.ok(labLeftovers().length >= 4, 'a killed run leaves its namespaces and links');
  assert.ok(inside.every(alive), 'and the processes in them');
  const removed = sweepStaleLabNets();
  assert.ok(removed.length >= 4, `swept ${removed.join(', ')}`);
  for (let i = 0; i < 20 && inside.some(alive); i++) await new Promise((r) => setTimeout(r, 100));
  assert.equal(inside.filter(alive), [], 'the sweep killed them');
  assert.equal(labLeftovers(), []);
});

T.run();
