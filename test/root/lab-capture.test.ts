/**
 * Capture over the network, as real processes: a PC with a capture task (`shoal join`) sends its
 * disk to a storage node piece by piece; cut off half-way nothing is published, and started again
 * it resumes, sending only what did not arrive; the node publishes the image, and three PCs
 * deploy it through the swarm.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { assertPartitionsDeployed, blankDisk, cleanup, makeDisk, MiB, workDir, type FixtureDisk } from './fixtures.js';
import { killAll, shoalBackground, startLabProcesses, stopLab, waitFor, type Lab } from './processes.js';

const T = suite<{ dir: string; store: string; disk: FixtureDisk; lab: Lab }>('network capture');
const PC = '52:54:00:00:03:01';

T.before(async (ctx) => {
  ctx.dir = workDir();
  ctx.store = join(ctx.dir, 'node-store');
  mkdirSync(ctx.store);
  ctx.disk = makeDisk(ctx.dir, 'src.img', 320, 'gpt', [
    { sizeMiB: 40, fs: 'vfat', name: 'EFI system' },
    { sizeMiB: 120, fs: 'ext4', name: 'root' },
    { sizeMiB: 120, fs: 'ntfs', name: 'Windows' },
    { fs: 'swap', name: 'swap' },
  ], 12);
  ctx.lab = await startLabProcesses(ctx.dir, [ctx.store]);
});
T.after(async (ctx) => {
  await stopLab(ctx.lab);
  await killAll();
  cleanup();
});

T('a capture cut off half-way publishes nothing; started again it resumes and the node publishes the image', async (ctx) => {
  const { lab } = ctx;
  const task = await lab.api('POST', '/api/v1/tasks', { kind: 'capture', image: 'net', type: 'multipart', hosts: [PC] });
  // Slowed to 1 MiB/s so that it can be cut half-way.
  const first = shoalBackground(['join', '--portal', lab.portal.url, '--disk', ctx.disk.path, '--mac', PC, '--upload-limit', String(MiB)]);
  await waitFor('8 MiB sent', 60_000, async () => {
    const h = (await lab.api('GET', `/api/v1/tasks/${task.id}`)).hosts[0];
    return h.progress?.uploadId && h.progress.uploadedBytes >= 8 * MiB ? true : undefined;
  });
  first.child.kill('SIGKILL');
  await first.exited;
  assert.equal((await lab.api('GET', '/api/v1/images')).images, [], 'nothing published');
  assert.equal(readdirSync(ctx.store).filter((f) => !f.startsWith('.')), [], 'nothing in the store but the upload');
  const again = await shoalBackground(['join', '--portal', lab.portal.url, '--disk', ctx.disk.path, '--mac', PC]).exited;
  assert.is(again.code, 0, again.stderr);
  const skipped = Number(/(\d+) piece\(s\) already there/.exec(again.stdout)?.[1] ?? 0);
  console.log(`  resumed: ${again.stdout.trim()}`);
  assert.ok(skipped >= 2, `the restart skipped the pieces that had arrived (${skipped})`);
  const done = await lab.api('GET', `/api/v1/tasks/${task.id}`);
  assert.is(done.state, 'done');
  await waitFor('the image published', 30_000, async () => ((await lab.api('GET', '/api/v1/images')).images.length === 1 ? true : undefined));
  assert.equal(readdirSync(join(ctx.store, '.uploads')), [], 'the upload is gone once published');
});

T('three PCs deploy the captured image through the swarm', async (ctx) => {
  const { lab } = ctx;
  const macs = ['52:54:00:00:03:11', '52:54:00:00:03:12', '52:54:00:00:03:13'];
  const task = await lab.api('POST', '/api/v1/tasks', { kind: 'deploy', image: 'net', hosts: macs, lingerSeconds: 30 });
  const disks = macs.map((_, i) => blankDisk(join(ctx.dir, `pc-${i}.img`), 320 * MiB));
  const results = await Promise.all(macs.map((mac, i) => shoalBackground(['join', '--portal', lab.portal.url, '--disk', disks[i]!, '--mac', mac]).exited));
  results.forEach((r, i) => assert.is(r.code, 0, `PC ${i}: ${r.stderr}`));
  for (const d of disks) assertPartitionsDeployed(ctx.disk, d, ctx.dir);
  assert.is((await lab.api('GET', `/api/v1/tasks/${task.id}`)).state, 'done');
});

T('bad capture requests are refused', async (ctx) => {
  const { lab } = ctx;
  const refused = async (body: unknown) => {
    try {
      await lab.api('POST', '/api/v1/tasks', body);
      return 'accepted';
    } catch (err) {
      return (err as Error).message;
    }
  };
  assert.match(await refused({ kind: 'capture', image: 'x', hosts: [PC] }), /needs the image type/);
  assert.match(await refused({ kind: 'capture', image: '../x', type: 'raw', hosts: [PC] }), /invalid image name/);
  assert.match(await refused({ kind: 'capture', image: 'x', type: 'raw', hosts: [PC, '52:54:00:00:03:02'] }), /one host/);
  // An upload without a key, or with a key for another image, is refused by the node.
  const res = await fetch(`${(await lab.api('GET', '/api/v1/nodes')).nodes[0].httpUrl}/uploads/net`, { method: 'POST', body: '{"pieceLength": 262144}', headers: { 'content-type': 'application/json' } });
  assert.is(res.status, 401);
});

T.run();
