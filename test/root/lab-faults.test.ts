/**
 * The lab when parts of it die mid-deploy, as real processes on loopback: the tracker killed, a
 * storage node killed while a second one holds the image, a PC killed and started again. Each
 * server process is started on its own here (not `shoal start`, which stops all three when one
 * dies). PCs are limited to 1 MiB/s so that a deploy lasts long enough to be cut.
 */
import { suite } from '../suite.js';
import * as assert from 'uvu/assert';
import { cpSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { assertPartitionsDeployed, blankDisk, cleanup, MiB, workDir, type FixtureDisk } from './fixtures.js';
import { captureLabImage, killAll, metric, progressed, shoalBackground, startLabProcesses, stopLab, waitFor, type Lab } from './processes.js';
import { TaskSchema } from '../../shared/http/portal-contract.js';
import { openImage } from '../../shared/image/store.js';
import type { Manifest } from '../../shared/image/manifest.js';

const PC_LIMIT = 1 * MiB;
const T = suite<{ dir: string; store: string; disk: FixtureDisk; manifest: Manifest }>('lab faults');
let macSeq = 0x10;
const nextMac = () => `52:54:00:00:02:${(macSeq++).toString(16).padStart(2, '0')}`;

function join_(lab: Lab, disk: string, mac: string) {
  return shoalBackground(['join', '--portal', lab.portal.url, '--disk', disk, '--mac', mac, '--download-limit', String(PC_LIMIT)]);
}

/** Three PCs deploy; at 25 % `cut` kills part of the lab; every PC must still finish. Returns the task. */
async function deployCutAt(lab: Lab, ctx: { dir: string; disk: FixtureDisk }, tag: string, cut: () => Promise<void>): Promise<number> {
  const macs = [nextMac(), nextMac(), nextMac()];
  const task = await lab.client.post(TaskSchema, '/api/v1/tasks', { kind: 'deploy', image: 'lab', hosts: macs, lingerSeconds: 60 });
  const disks = macs.map((_, i) => blankDisk(join(ctx.dir, `${tag}-pc${i}.img`), 320 * MiB));
  const pcs = macs.map((mac, i) => join_(lab, disks[i]!, mac));
  await progressed(lab, task.id, 0.25);
  await cut();
  const results = await Promise.all(pcs.map((p) => p.exited));
  results.forEach((r, i) => assert.is(r.code, 0, `PC ${i}: ${r.stderr}`));
  for (const d of disks) assertPartitionsDeployed(ctx.disk, d, ctx.dir);
  return task.id;
}

T.before(async (ctx) => {
  ctx.dir = workDir();
  Object.assign(ctx, await captureLabImage(ctx.dir));
});
T.after(async () => {
  await killAll();
  cleanup();
});

T('the tracker killed mid-deploy: the PCs finish with the peers and seeders they know', async (ctx) => {
  const lab = await startLabProcesses(ctx.dir, [ctx.store], [], 1);
  try {
    const taskId = await deployCutAt(lab, ctx, 't', () => lab.tracker.kill('SIGKILL'));
    assert.is((await lab.client.get(TaskSchema, `/api/v1/tasks/${taskId}`)).state, 'done');
  } finally {
    await stopLab(lab);
  }
});

T("every tracker killed before a late PC joins: it finds the other PCs in the lab's DHT; the storage node sends less than an image per PC", async (ctx) => {
  const lab = await startLabProcesses(ctx.dir, [ctx.store], [], 1);
  try {
    const macs = [nextMac(), nextMac(), nextMac(), nextMac()];
    const task = await lab.client.post(TaskSchema, '/api/v1/tasks', { kind: 'deploy', image: 'lab', hosts: macs, lingerSeconds: 60 });
    const disks = macs.map((_, i) => blankDisk(join(ctx.dir, `dht-pc${i}.img`), 320 * MiB));
    const early = macs.slice(0, 3).map((mac, i) => join_(lab, disks[i]!, mac));
    await waitFor('25 % on the first three PCs', 60_000, async () => {
      const t = await lab.client.get(TaskSchema, `/api/v1/tasks/${task.id}`);
      const first = t.hosts.filter((h) => macs.slice(0, 3).includes(h.mac));
      return first.every((h) => h.progress && h.progress.piecesDone >= 0.25 * h.progress.piecesTotal) ? true : undefined;
    });
    await lab.tracker.kill('SIGKILL');
    // Its ticket names the storage node; only the DHT can name the PCs, which joined while the tracker lived.
    const late = join_(lab, disks[3]!, macs[3]!);
    const results = await Promise.all([...early, late].map((p) => p.exited));
    results.forEach((r, i) => assert.is(r.code, 0, `PC ${i}: ${r.stderr}`));
    for (const d of disks) assertPartitionsDeployed(ctx.disk, d, ctx.dir);
    const hosts = (await lab.client.get(TaskSchema, `/api/v1/tasks/${task.id}`)).hosts;
    const lateHost = hosts.find((h) => h.mac === macs[3])!;
    const fromPcs = lateHost.progress!.downloadedBytes - (lateHost.progress!.fromStorageBytes ?? 0);
    assert.ok(
      fromPcs > 0.1 * lateHost.progress!.downloadedBytes,
      `the late PC took ${fromPcs} of its ${lateHost.progress!.downloadedBytes} bytes from other PCs`,
    );
    // Without a swarm each of the four PCs would take the whole image from the node; with it, less.
    // (The lab image is 6 pieces and the late PC comes alone: near one image is for real images.)
    const seeded =
      (await metric(lab.seeders[0]!.url, 'shoal_seeder_bittorrent_uploaded_bytes')) + (await metric(lab.seeders[0]!.url, 'shoal_seeder_http_uploaded_bytes'));
    assert.ok(
      seeded < 4 * ctx.manifest.storedBytes,
      `the storage node sent ${(seeded / MiB).toFixed(1)} MiB for a ${(ctx.manifest.storedBytes / MiB).toFixed(1)} MiB image to four PCs`,
    );
  } finally {
    await stopLab(lab);
  }
});

T('a storage node killed mid-deploy while a second one holds the image: the PCs finish from the second', async (ctx) => {
  const second = join(ctx.dir, 'store-node1');
  cpSync(ctx.store, second, { recursive: true });
  const lab = await startLabProcesses(ctx.dir, [ctx.store, second], [], 1);
  try {
    await deployCutAt(lab, ctx, 's', () => lab.seeders[0]!.kill('SIGKILL'));
  } finally {
    await stopLab(lab);
  }
});

T('a PC killed mid-deploy and started again fetches about what it lacked, and finishes', async (ctx) => {
  const lab = await startLabProcesses(ctx.dir, [ctx.store], [], 1);
  try {
    const mac = nextMac();
    const task = await lab.client.post(TaskSchema, '/api/v1/tasks', { kind: 'deploy', image: 'lab', hosts: [mac], lingerSeconds: 0 });
    const disk = blankDisk(join(ctx.dir, 'k-pc.img'), 320 * MiB);
    const first = join_(lab, disk, mac);
    const before = await progressed(lab, task.id, 0.4);
    first.child.kill('SIGKILL');
    await first.exited;
    const { piecesDone: doneBefore, piecesTotal: total } = before.hosts[0]!.progress!;
    const again = await join_(lab, disk, mac).exited;
    assert.is(again.code, 0, again.stderr);
    assertPartitionsDeployed(ctx.disk, disk, ctx.dir);
    const after = (await lab.client.get(TaskSchema, `/api/v1/tasks/${task.id}`)).hosts[0];
    assert.is(after?.state, 'done');
    const fetched = after!.progress!.downloadedBytes;
    const lacked = (total - doneBefore) * ctx.manifest.pieceLength;
    console.log(`  killed with ${doneBefore}/${total} pieces reported; the restart fetched ${(fetched / ctx.manifest.pieceLength).toFixed(1)} pieces' worth`);
    assert.ok(fetched <= lacked + 4 * ctx.manifest.pieceLength, `fetched ${fetched} bytes where at most ${lacked} were lacking`);
  } finally {
    await stopLab(lab);
  }
});

T('a storage node replicates the image through the swarm; with the origin gone, PCs deploy from the replica', async (ctx) => {
  const replica = join(ctx.dir, 'store-replica');
  mkdirSync(replica);
  const lab = await startLabProcesses(ctx.dir, [ctx.store], [replica], 1);
  try {
    const { dir } = await openImage(replica, 'lab');
    const { dir: origin } = await openImage(ctx.store, 'lab');
    // Piece files and torrent byte for byte; the manifest as data (it is re-serialized after its schema check).
    for (const f of readdirSync(origin).filter((x) => x !== 'manifest.json'))
      assert.ok(readFileSync(join(dir, f)).equals(readFileSync(join(origin, f))), `${f} replicated byte for byte`);
    assert.equal(JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')), JSON.parse(readFileSync(join(origin, 'manifest.json'), 'utf8')));
    assert.equal(readdirSync(join(replica, '.staging')), [], 'no staging left behind');
    await lab.seeders[0]!.kill('SIGKILL');
    const mac = nextMac();
    const task = await lab.client.post(TaskSchema, '/api/v1/tasks', { kind: 'deploy', image: 'lab', hosts: [mac], lingerSeconds: 0 });
    const disk = blankDisk(join(ctx.dir, 'r-pc.img'), 320 * MiB);
    const r = await join_(lab, disk, mac).exited;
    assert.is(r.code, 0, r.stderr);
    assertPartitionsDeployed(ctx.disk, disk, ctx.dir);
    assert.is((await lab.client.get(TaskSchema, `/api/v1/tasks/${task.id}`)).state, 'done');
  } finally {
    await stopLab(lab);
  }
});

T.run();
