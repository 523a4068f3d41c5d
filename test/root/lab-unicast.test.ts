/**
 * The unicast transport in the lab, as real processes on loopback: a deploy by hand over unicast;
 * a PC whose swarm reaches nobody falling back to unicast by itself (auto); storage nodes serving
 * corrupt pieces over HTTP.
 *
 * Where the swarm cannot reach anyone (test 2), the network is made so for real: the tracker is
 * killed, and the storage node's BitTorrent port is filtered with iptables (DROP, as a school's
 * firewall does), while its HTTP port stays open. So that the rule touches nothing else on this
 * machine, this file runs in a network namespace of its own (unshare --net, loopback only): run
 * under uvu, it starts itself again inside one.
 */
import { suite } from '../suite.js';
import * as assert from 'uvu/assert';
import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, openSync, readSync, statSync, writeSync, closeSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { assertPartitionsDeployed, blankDisk, cleanup, MiB, workDir, type FixtureDisk } from './fixtures.js';
import { shoal } from './cli.js';
import {
  captureLabImage,
  killAll,
  loopbackSeederArgs,
  metric,
  shoalBackground,
  startLabProcesses,
  startProcess,
  stopLab,
  waitFor,
  type Lab,
} from './processes.js';
import { ImageListSchema, StorageNodeListSchema, TaskSchema } from '../../shared/http/portal-contract.js';
import { openImage } from '../../shared/image/store.js';
import { pieceFileName, type Manifest } from '../../shared/image/manifest.js';

const NETNS_ENV = 'SHOAL_TEST_IN_NETNS';

if (process.env[NETNS_ENV] !== '1') {
  const outer = suite('lab unicast');
  outer('(in a network namespace of its own)', () => {
    const self = fileURLToPath(import.meta.url);
    const r = spawnSync('unshare', ['--net', 'sh', '-c', 'ip link set lo up && exec "$0" "$1"', process.execPath, self], {
      stdio: 'inherit',
      env: { ...process.env, [NETNS_ENV]: '1' },
      timeout: 5 * 60_000,
    });
    assert.is(r.status, 0, `the tests in the namespace failed (exit ${r.status}${r.error ? `, ${r.error.message}` : ''})`);
  });
  outer.run();
} else {
  const T = suite<{ dir: string; store: string; disk: FixtureDisk; manifest: Manifest; lab?: Lab }>('lab unicast (own network namespace)');
  const STARTUP_WINDOW_S = 5;

  T.before(async (ctx) => {
    ctx.dir = workDir();
    Object.assign(ctx, await captureLabImage(ctx.dir));
    ctx.lab = await startLabProcesses(ctx.dir, [ctx.store], [], 1);
  });
  T.after(async (ctx) => {
    await stopLab(ctx.lab);
    await killAll();
    cleanup();
  });

  T("shoal deploy --portal --transport unicast: the disk is the source's, every piece over HTTP", async (ctx) => {
    const lab = ctx.lab!;
    const seeder = lab.seeders[0]!.url;
    const [httpBefore, btBefore] = [await metric(seeder, 'shoal_seeder_http_uploaded_bytes'), await metric(seeder, 'shoal_seeder_bittorrent_uploaded_bytes')];
    const target = blankDisk(join(ctx.dir, 'unicast.img'), 320 * MiB);
    const started = Date.now();
    const r = shoal('deploy', '--portal', lab.portal.url, '--image', 'lab', '--disk', target, '--transport', 'unicast', '--token', lab.token);
    const seconds = (Date.now() - started) / 1000;
    assert.is(r.code, 0, r.stderr);
    const pieces = ctx.manifest.disks.reduce((n, d) => n + d.areas.reduce((a, x) => a + x.pieces.length, 0), 0);
    assert.match(r.stdout, new RegExp(`over unicast: .*; unicast ${pieces} piece\\(s\\)`));
    assertPartitionsDeployed(ctx.disk, target, ctx.dir);
    const http = (await metric(seeder, 'shoal_seeder_http_uploaded_bytes')) - httpBefore;
    const bt = (await metric(seeder, 'shoal_seeder_bittorrent_uploaded_bytes')) - btBefore;
    console.log(
      `  unicast: ${(ctx.manifest.storedBytes / MiB).toFixed(1)} MiB image (${pieces} pieces) in ${seconds.toFixed(1)} s with the command's start and finish, ${(ctx.manifest.storedBytes / MiB / seconds).toFixed(1)} MiB/s`,
    );
    assert.is(http, ctx.manifest.storedBytes, 'the node sent the image once over HTTP');
    assert.is(bt, 0, 'and nothing over BitTorrent');
    assert.match(
      shoal('deploy', '--portal', lab.portal.url, '--image', 'lab', '--disk', target, '--transport', 'multicast', '--token', lab.token).stderr,
      /--transport multicast: a multicast deploy is a task for a group/,
    );
  });

  T("shoal join (auto) with the tracker dead and the node's BitTorrent port filtered: it goes on over unicast, and says so", async (ctx) => {
    const lab = ctx.lab!;
    const node = (await lab.client.get(StorageNodeListSchema, '/api/v1/nodes')).nodes[0]!;
    const btPort = node.btAddr.split(':').pop()!;
    await lab.tracker.kill('SIGKILL');
    execFileSync('iptables', ['-A', 'INPUT', '-p', 'tcp', '--dport', btPort, '-j', 'DROP']);
    const mac = '52:54:00:00:05:01';
    const task = await lab.client.post(TaskSchema, '/api/v1/tasks', { kind: 'deploy', image: 'lab', hosts: [mac], lingerSeconds: 30 });
    const target = blankDisk(join(ctx.dir, 'auto.img'), 320 * MiB);
    const started = Date.now();
    const pc = await shoalBackground(['join', '--portal', lab.portal.url, '--disk', target, '--mac', mac, '--startup-window', String(STARTUP_WINDOW_S)]).exited;
    const seconds = (Date.now() - started) / 1000;
    assert.is(pc.code, 0, pc.stderr);
    assert.match(pc.stderr, /the swarm reached nobody: going on over unicast/);
    assert.match(pc.stdout, /over unicast: .*; swarm 0, unicast \d+ piece\(s\); nothing to seed/, pc.stdout);
    assertPartitionsDeployed(ctx.disk, target, ctx.dir);
    const host = (await lab.client.get(TaskSchema, `/api/v1/tasks/${task.id}`)).hosts[0];
    assert.is(host?.state, 'done');
    const progress = host!.progress!;
    assert.is(progress.transport, 'unicast', 'the progress report names the transport');
    const by = progress.piecesByTransport!;
    assert.is((by.swarm ?? 0) + (by.unicast ?? 0), progress.piecesTotal, `every piece by one of the two: ${JSON.stringify(by)}`);
    assert.ok((by.unicast ?? 0) > 0);
    console.log(`  auto: fell back after a ${STARTUP_WINDOW_S} s window; done in ${seconds.toFixed(1)} s (${JSON.stringify(by)})`);
    // The admin's deploy by hand does the same with `--transport auto --startup-window`.
    const byHand = blankDisk(join(ctx.dir, 'auto-by-hand.img'), 320 * MiB);
    const admin = await shoalBackground([
      'deploy',
      '--portal',
      lab.portal.url,
      '--image',
      'lab',
      '--disk',
      byHand,
      '--token',
      lab.token,
      '--transport',
      'auto',
      '--startup-window',
      String(STARTUP_WINDOW_S),
    ]).exited;
    assert.is(admin.code, 0, admin.stderr);
    assert.match(admin.stderr, /the swarm reached nobody: going on over unicast/);
    assert.match(admin.stdout, /deployed lab v1 to .* over unicast: .*; swarm 0, unicast \d+ piece\(s\)/, admin.stdout);
    assertPartitionsDeployed(ctx.disk, byHand, ctx.dir);
  });

  /** Flips a byte inside piece `index` of an area's piece file in a store. */
  async function corruptPiece(store: string, areaId: string, index: number, pieceLength: number): Promise<void> {
    const { dir } = await openImage(store, 'lab');
    const fd = openSync(join(dir, pieceFileName({ id: areaId })), 'r+');
    try {
      const b = Buffer.alloc(1);
      const at = index * pieceLength + 100;
      readSync(fd, b, 0, 1, at);
      b[0] = b[0]! ^ 0xff;
      writeSync(fd, b, 0, 1, at);
    } finally {
      closeSync(fd);
    }
  }

  T('a node serving a corrupt piece: fetched again, then a clear failure; with a second node, each bad piece comes from the other', async (ctx) => {
    await stopLab(ctx.lab);
    ctx.lab = undefined;
    const area = ctx.manifest.disks[0]!.areas.reduce((a, b) => (b.pieces.length > a.pieces.length ? b : a));
    const [bad0, bad1] = [join(ctx.dir, 'store-bad0'), join(ctx.dir, 'store-bad1')];
    cpSync(ctx.store, bad0, { recursive: true });
    cpSync(ctx.store, bad1, { recursive: true });
    await corruptPiece(bad0, area.id, 1, ctx.manifest.pieceLength);
    await corruptPiece(bad1, area.id, 2, ctx.manifest.pieceLength);
    const lab = (ctx.lab = await startLabProcesses(ctx.dir, [bad0], [], 1));
    const target = blankDisk(join(ctx.dir, 'corrupt.img'), 320 * MiB);
    const failed = shoal('deploy', '--portal', lab.portal.url, '--image', 'lab', '--disk', target, '--transport', 'unicast', '--token', lab.token);
    assert.is.not(failed.code, 0);
    const error = failed.stderr.split('\n').find((l) => l.startsWith('shoal: error:')) ?? '';
    assert.match(
      error,
      new RegExp(
        `unicast: piece \\d+ \\(${area.id} #1\\) failed 3 tries: http://127\\.0\\.0\\.1:\\d+/k/…/images/lab/v1/${area.id}\\.pieces: SHA-1 [0-9a-f]{40}, the torrent says [0-9a-f]{40} \\(3 times\\)$`,
      ),
      failed.stderr,
    );
    assert.is(statSync(target).size, 320 * MiB, "nothing written past the disk's end");
    // A second node, whose copy is bad elsewhere: whichever node a piece is asked of first, its bad copy comes again from the other.
    await startProcess('seeder', [
      '--store',
      bad1,
      '--secret-file',
      join(lab.data, 'lab-secret'),
      '--portal',
      lab.portal.url,
      '--tracker',
      lab.tracker.url,
      '--name',
      'node1',
      ...(await loopbackSeederArgs()),
    ]);
    await waitFor('the image on two nodes', 30_000, async () =>
      (await lab.client.get(ImageListSchema, '/api/v1/images')).images[0]?.nodes.length === 2 ? true : undefined,
    );
    // A fresh disk: on the first one, resume would skip what the failed deploy wrote.
    const second = blankDisk(join(ctx.dir, 'corrupt-2.img'), 320 * MiB);
    const ok = shoal('deploy', '--portal', lab.portal.url, '--image', 'lab', '--disk', second, '--transport', 'unicast', '--token', lab.token);
    assert.is(ok.code, 0, ok.stderr);
    // Asked of the node whose copy is bad (at least one of the two is asked first), each failed once at most.
    const refetched = ok.stderr.split('piece failed: fetching it again').length - 1;
    assert.ok(refetched >= 1 && refetched <= 2, `bad pieces fetched again: ${refetched}: ${ok.stderr}`);
    assertPartitionsDeployed(ctx.disk, second, ctx.dir);
  });

  T.run();
}
