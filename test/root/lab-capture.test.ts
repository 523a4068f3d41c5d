/**
 * Capture over the network, as real processes: a PC with a capture task (`shoal join`) sends its
 * disk to a storage node piece by piece; cut off half-way nothing is published, and started again
 * it resumes, sending only what did not arrive; the node publishes the image, and three PCs
 * deploy it through the swarm.
 */
import { suite } from '../suite.js';
import * as assert from 'uvu/assert';
import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { assertPartitionsDeployed, blankDisk, cleanup, labPcDisk, MiB, workDir, type FixtureDisk } from './fixtures.js';
import { killAll, shoalBackground, startLabProcesses, stopLab, waitFor, type Lab } from './processes.js';
import { z } from 'zod';
import { PortalClient, PortalError } from '../../shared/http/portal-client.js';
import { HostTaskSchema, ImageListSchema, ImageSchema, TaskSchema } from '../../shared/http/portal-contract.js';

/** What a storage node answers to an upload it opened (seeder/uploads.ts): the parts a test looks at. */
const UploadOpenedSchema = z.object({ imageId: z.string(), version: z.number() });

const T = suite<{ dir: string; store: string; disk: FixtureDisk; lab: Lab }>('network capture');
const PC = '52:54:00:00:03:01';

T.before(async (ctx) => {
  ctx.dir = workDir();
  ctx.store = join(ctx.dir, 'node-store');
  mkdirSync(ctx.store);
  ctx.disk = labPcDisk(ctx.dir);
  ctx.lab = await startLabProcesses(ctx.dir, [ctx.store]);
});
T.after(async (ctx) => {
  await stopLab(ctx.lab);
  await killAll();
  cleanup();
});

T('a capture cut off half-way publishes nothing; started again it resumes and the node publishes the image', async (ctx) => {
  const { lab } = ctx;
  const task = await lab.client.post(TaskSchema, '/api/v1/tasks', { kind: 'capture', image: 'net', type: 'multipart', hosts: [PC] });
  // Slowed to 1 MiB/s so that it can be cut half-way.
  const first = shoalBackground(['join', '--portal', lab.portal.url, '--disk', ctx.disk.path, '--mac', PC, '--upload-limit', String(MiB)]);
  await waitFor('8 MiB sent', 60_000, async () => {
    const h = (await lab.client.get(TaskSchema, `/api/v1/tasks/${task.id}`)).hosts[0];
    return h?.progress?.uploadId && h.progress.uploadedBytes >= 8 * MiB ? true : undefined;
  });
  first.child.kill('SIGKILL');
  await first.exited;
  const pending = (await lab.client.get(ImageListSchema, '/api/v1/images')).images;
  assert.equal(
    pending.map((i) => [i.name, i.status, i.versions.length]),
    [['net', 'pending', 0]],
    'nothing published: the catalog entry waits',
  );
  assert.equal(
    readdirSync(ctx.store).filter((f) => !f.startsWith('.')),
    [],
    'nothing in the store but the upload',
  );
  const again = await shoalBackground(['join', '--portal', lab.portal.url, '--disk', ctx.disk.path, '--mac', PC]).exited;
  assert.is(again.code, 0, again.stderr);
  const skipped = Number(/(\d+) piece\(s\) already there/.exec(again.stdout)?.[1] ?? 0);
  console.log(`  resumed: ${again.stdout.trim()}`);
  assert.ok(skipped >= 2, `the restart skipped the pieces that had arrived (${skipped})`);
  const done = await lab.client.get(TaskSchema, `/api/v1/tasks/${task.id}`);
  assert.is(done.state, 'done');
  await waitFor('the image published', 30_000, async () =>
    (await lab.client.get(ImageListSchema, '/api/v1/images')).images.some((i) => i.status === 'ok' && i.versions.length === 1) ? true : undefined,
  );
  const [net] = (await lab.client.get(ImageListSchema, '/api/v1/images')).images;
  assert.is(net?.versions[0]?.awaitingReview, true, "a version a PC captured waits for an admin's review");
  assert.equal(readdirSync(join(ctx.store, '.uploads')), [], 'the upload is gone once published');
  assert.not.ok(
    readdirSync(tmpdir()).some((e) => e.startsWith(`shoal-capture-${first.child.pid}-`)),
    "the killed capture's scratch was swept",
  );
});

T('three PCs deploy the captured image through the swarm', async (ctx) => {
  const { lab } = ctx;
  const macs = ['52:54:00:00:03:11', '52:54:00:00:03:12', '52:54:00:00:03:13'];
  // Not before an admin let the captured version through.
  await lab.client.post(TaskSchema, '/api/v1/tasks', { kind: 'deploy', image: 'net', hosts: macs }).then(
    () => assert.unreachable('deployed before the review'),
    (err: Error) => {
      assert.instance(err, PortalError);
      assert.is((err as PortalError).status, 409);
      assert.match((err as PortalError).said, /net v1 waits for an admin's review/);
    },
  );
  const approved = await lab.client.post(ImageSchema, '/api/v1/images/net/versions/1/approve');
  assert.is(approved.versions[0]?.awaitingReview, false);
  const task = await lab.client.post(TaskSchema, '/api/v1/tasks', { kind: 'deploy', image: 'net', hosts: macs, lingerSeconds: 30 });
  const disks = macs.map((_, i) => blankDisk(join(ctx.dir, `pc-${i}.img`), 320 * MiB));
  const results = await Promise.all(macs.map((mac, i) => shoalBackground(['join', '--portal', lab.portal.url, '--disk', disks[i]!, '--mac', mac]).exited));
  results.forEach((r, i) => assert.is(r.code, 0, `PC ${i}: ${r.stderr}`));
  for (const d of disks) assertPartitionsDeployed(ctx.disk, d, ctx.dir);
  assert.is((await lab.client.get(TaskSchema, `/api/v1/tasks/${task.id}`)).state, 'done');
});

T('bad capture requests are refused', async (ctx) => {
  const { lab } = ctx;
  const refused = async (body: unknown) => {
    try {
      await lab.client.post(TaskSchema, '/api/v1/tasks', body);
      return 'accepted';
    } catch (err) {
      return (err as Error).message;
    }
  };
  assert.match(await refused({ kind: 'capture', image: 'x', hosts: [PC] }), /a capture of a new image needs its type/);
  assert.match(await refused({ kind: 'capture', image: '../x', type: 'raw', hosts: [PC] }), /invalid image name/);
  assert.match(await refused({ kind: 'capture', image: 'x', type: 'raw', hosts: [PC, '52:54:00:00:03:02'] }), /one host/);
  assert.match(await refused({ kind: 'deploy', image: 'net', version: 1, publish: true, hosts: [PC] }), /publish is for a capture/);
  // The node's side: a capture task's upload key, then every kind of bad upload.
  const mac = '52:54:00:00:03:21';
  await lab.client.post(TaskSchema, '/api/v1/tasks', { kind: 'capture', image: 'odd', type: 'raw', hosts: [mac] });
  // Asked as the PC asks: no credential.
  const task = await new PortalClient({ url: lab.portal.url }).get(HostTaskSchema, `/api/v1/hosts/${mac}/task`);
  if (task.kind !== 'capture') throw new Error(`${mac} was given a ${task.kind} task, not its capture`);
  const node = task.nodeUrl;
  const call = async (method: string, path: string, body?: string | Uint8Array, headers: Record<string, string> = {}, key: string | null = task.key) => {
    const res = await fetch(`${node}${path}`, { method, body: body as BodyInit, headers: { ...(key ? { authorization: `Bearer ${key}` } : {}), ...headers } });
    return { status: res.status, text: await res.text() };
  };
  const json = { 'content-type': 'application/json' };
  const open = (name: string, fields: Record<string, unknown>, key?: string | null) =>
    call('POST', `/uploads/${name}`, JSON.stringify({ version: task.version, ...fields }), json, key);
  assert.is((await open('odd', { pieceLength: 262144 }, null)).status, 401, 'no key');
  assert.is((await open('net', { pieceLength: 262144 })).status, 401, 'a key for another image');
  // The key is for the version the portal assigned: a kept key publishes no other (version 99).
  const other = await open('odd', { pieceLength: 262144, version: 99 });
  assert.is(other.status, 401, `a key for another version: ${other.text}`);
  assert.match(other.text, /not for odd v99/);
  assert.is((await call('POST', '/uploads/odd', '{"pieceLength": 262144}', json)).status, 400, 'an upload without the version');
  assert.match((await open('odd', { pieceLength: 0.5 })).text, /power of two/);
  assert.match((await open('odd', { pieceLength: 16384 })).text, /power of two from 64 KiB to 64 MiB/, 'smaller than a manifest allows');
  const session = UploadOpenedSchema.parse(JSON.parse((await open('odd', { pieceLength: 65536 })).text));
  assert.is(session.version, task.version, 'the version the portal assigned');
  const piece = new Uint8Array(65536).fill(7);
  const sha1 = createHash('sha1').update(piece).digest('hex');
  const put = (file: string, index: string, body: Uint8Array, hash = sha1) =>
    call('PUT', `/uploads/odd/${session.imageId}/${file}/${index}`, body, { 'x-shoal-sha1': hash });
  assert.match((await put('d0raw.pieces', '0', piece, '0'.repeat(40))).text, /arrived damaged/);
  assert.match((await put('d0raw.pieces', '0', piece.subarray(0, 100))).text, /not 65536/);
  assert.match((await put('..%2F..%2Fescape.pieces', '0', piece)).text, /not a piece file name/);
  assert.match((await put('d0raw.pieces', '-1', piece)).text, /out of range/);
  assert.is((await put('d0raw.pieces', '0', piece)).status, 204);
  assert.match(
    (await call('POST', `/uploads/odd/${session.imageId}/publish`, JSON.stringify({ manifest: { format: 'nope' }, torrent: '' }), json)).text,
    /manifest fails its schema/,
  );
  assert.equal(
    readdirSync(ctx.store).filter((f) => !f.startsWith('.')),
    ['net'],
    'nothing else published',
  );
});

T.run();
