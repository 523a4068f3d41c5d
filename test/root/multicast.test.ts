/**
 * Multicast with Debian's udpcast between network namespaces (scripts/lab/netns.ts): the seeder's
 * udp-sender streams an image's piece files; receivers check every piece's identity and SHA-1; one
 * receiver loses 2 % of its packets and still gets every piece (udpcast retransmits); a receiver
 * deploying another image refuses the stream at its first piece and takes nothing.
 */
import { suite } from '../suite.js';
import * as assert from 'uvu/assert';
import { join } from 'node:path';
import { cleanup, makeDisk, workDir } from './fixtures.js';
import { shoalOk } from './cli.js';
import { openImage } from '../../shared/image/store.js';
import { pieceFileName, torrentPieces } from '../../shared/image/manifest.js';
import { createLabNet, labLeftovers, type LabNet } from '../../scripts/lab/netns.js';
import { startMulticastSender } from '../../seeder/multicast-sender.js';
import { receiveMulticast } from '../../client/multicast/multicast-receive.js';

const T = suite<{ dir: string; store: string; net?: LabNet }>('multicast');
const inNs = (ns: string) => ['ip', 'netns', 'exec', ns];

T.before((ctx) => {
  ctx.dir = workDir();
  ctx.store = join(ctx.dir, 'store');
  for (const [name, fill] of [
    ['room-a', 6],
    ['room-b', 3],
  ] as const) {
    const disk = makeDisk(ctx.dir, `${name}.img`, 40, 'gpt', [{ sizeMiB: 24, fs: 'ext4', name: 'root' }], fill);
    shoalOk('capture', '--disk', disk.path, '--store', ctx.store, '--image', name, '--type', 'multipart', '--piece-length', '65536');
  }
});
T.after((ctx) => {
  ctx.net?.teardown();
  cleanup();
});

T("every receiver gets every piece, verified, also the one losing 2 % of its packets; another image's receiver takes nothing", async (ctx) => {
  ctx.net = createLabNet({ clients: 3, clientMbit: 80, serverMbit: 160, lossy: { index: 1, percent: 2 } });
  const a = await openImage(ctx.store, 'room-a');
  const b = await openImage(ctx.store, 'room-b');
  const files = a.manifest.disks.flatMap((d) => d.areas.map(pieceFileName));
  const total = [...torrentPieces(a.manifest)].length;
  const sender = startMulticastSender({
    imageDir: a.dir,
    pieceFiles: files,
    portbase: 9000,
    interface: 'eth0',
    minReceivers: 3,
    maxWaitSeconds: 20,
    launcher: inNs(ctx.net.server.ns),
  });
  const got: Array<Set<number>> = [new Set(), new Set(), new Set()];
  const receive = (i: number, manifest = a.manifest) =>
    receiveMulticast({
      manifest,
      portbase: 9000,
      interface: 'eth0',
      startTimeoutSeconds: 30,
      launcher: inNs(ctx.net!.clients[i]!.ns),
      onPiece: (index) => void got[i]!.add(index),
    });
  const results = await Promise.allSettled([receive(0), receive(1), receive(2, b.manifest)]);
  await sender.done;
  for (const i of [0, 1]) {
    assert.is(results[i]!.status, 'fulfilled', String((results[i] as PromiseRejectedResult).reason));
    assert.is(got[i]!.size, total, `receiver ${i} took every piece`);
  }
  console.log(`  ${total} pieces to each receiver; the lossy one damaged ${(results[1] as PromiseFulfilledResult<{ damaged: number }>).value.damaged}`);
  assert.is(results[2].status, 'rejected');
  assert.match(String((results[2] as PromiseRejectedResult).reason), /another image .*room-b v1.*nothing of it written/);
  assert.is(got[2]!.size, 0, 'nothing of another image was taken');
  ctx.net.teardown();
  assert.equal(labLeftovers(), []);
});

T.run();
