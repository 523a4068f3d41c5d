/**
 * Re-imaging as a lab lives it, in the lab simulator (namespaces, real `shoal start` and `shoal
 * join` processes): the same three PCs' disks, round after round, by each transport — the first
 * deploy to blank disks; the same image again; again after each PC wrote to its root filesystem
 * (a day of use); then version 2 of the image (one file of the source changed). After every round
 * every disk is checked file by file (and a file the PC wrote is gone), and what the PCs fetched
 * is held against what differs on their disks, counted here independently of the client: each
 * disk compared block by block with a copy of a freshly deployed disk, mapped onto the pieces.
 */
import { suite } from '../suite.js';
import * as assert from 'uvu/assert';
import { closeSync, copyFileSync, cpSync, existsSync, mkdirSync, openSync, readSync, writeFileSync, writeSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import {
  assertPartitionsDeployed,
  blankDisk,
  cleanup,
  labPcDisk,
  loop,
  MiB,
  mount,
  sha256,
  tableOf,
  unloop,
  umount,
  workDir,
  type FixtureDisk,
} from './fixtures.js';
import { shoal, shoalOk } from './cli.js';
import { fetchRetry, killAll, labClient, startLab } from './processes.js';
import { TaskHostLogSchema, TaskSchema } from '../../shared/http/portal-contract.js';
import { openImage } from '../../shared/image/store.js';
import { pieceFileName, torrentPieces, type Manifest } from '../../shared/image/manifest.js';
import { openLab, type Lab, type LabResult } from '../../scripts/lab/run-lab.js';
import { labLeftovers } from '../../scripts/lab/netns.js';

const PCS = 3;
const PIECE = 256 * 1024;
const DISK_BYTES = 320 * MiB;
/** The root filesystem of labPcDisk: partition 2, ext4. */
const ROOT_PART = 2;
const ROUND_TIMEOUT_MS = 180_000;

interface Ctx {
  dir: string;
  store: string;
  v1: FixtureDisk;
  v2: FixtureDisk;
  manifest: Manifest;
  changedBytes: number;
}
const T = suite<Ctx>('re-imaging');

/** Replaces one file of the ext4 root with new random bytes of the same size; returns its size. */
function rewriteFile(disk: FixtureDisk, dir: string, rel: string): number {
  const part = disk.parts.find((p) => p.number === ROOT_PART)!;
  const dev = loop(disk.path, part.start, part.size);
  try {
    const mnt = mount(dev, 'ext4', dir);
    try {
      const size = 256 * 1024;
      const buf = randomBytes(size);
      writeFileSync(join(mnt, rel), buf);
      disk.files.get(ROOT_PART)!.set(rel, sha256(buf));
      return size;
    } finally {
      umount(mnt);
    }
  } finally {
    unloop(dev);
  }
}

T.before(async (ctx) => {
  ctx.dir = workDir();
  ctx.store = join(ctx.dir, 'store');
  ctx.v1 = labPcDisk(ctx.dir);
  shoalOk('capture', '--disk', ctx.v1.path, '--store', ctx.store, '--image', 'lab', '--type', 'multipart', '--piece-length', String(PIECE));
  ctx.manifest = (await openImage(ctx.store, 'lab', 1)).manifest;
  // Version 2: the reference PC after an update, one file of its root rewritten.
  ctx.v2 = { ...ctx.v1, files: new Map([...ctx.v1.files].map(([n, f]) => [n, new Map(f)])) };
  ctx.changedBytes = rewriteFile(ctx.v2, ctx.dir, [...ctx.v2.files.get(ROOT_PART)!.keys()][1]!);
  shoalOk('capture', '--disk', ctx.v2.path, '--store', ctx.store, '--image', 'lab', '--type', 'multipart', '--piece-length', String(PIECE));
  // v1's source is gone (v2 was captured from the same disk): its files live on in ctx.v1.files,
  // checked against the deployed disks through assertPartitionsDeployed with v1's map.
});
T.after(() => cleanup());

/** A day of use on a PC: a new 4 MiB file on its root, one of the image's files rewritten. */
function useDisk(path: string, dir: string, layout: FixtureDisk): void {
  const part = layout.parts.find((p) => p.number === ROOT_PART)!;
  const dev = loop(path, part.start, part.size);
  try {
    const mnt = mount(dev, 'ext4', dir);
    try {
      writeFileSync(join(mnt, 'day-of-use.bin'), randomBytes(4 * MiB));
      writeFileSync(join(mnt, [...layout.files.get(ROOT_PART)!.keys()][0]!), randomBytes(64 * 1024));
    } finally {
      umount(mnt);
    }
  } finally {
    unloop(dev);
  }
}

/** Whether the PC's root holds the file a day of use left there. */
function hasDayOfUse(path: string, dir: string, layout: FixtureDisk): boolean {
  const part = layout.parts.find((p) => p.number === ROOT_PART)!;
  const dev = loop(path, part.start, part.size);
  try {
    const mnt = mount(dev, 'ext4', dir, true);
    try {
      return existsSync(join(mnt, 'day-of-use.bin'));
    } finally {
      umount(mnt);
    }
  } finally {
    unloop(dev);
  }
}

/**
 * How many of the image's pieces would read differently on `disk` than on `reference` (a disk
 * that holds the image as deployed): both read block by block over each piece's runs.
 */
function piecesDiffering(m: Manifest, disk: string, reference: string): number {
  const a = openSync(disk, 'r');
  const b = openSync(reference, 'r');
  const bufA = Buffer.alloc(MiB);
  const bufB = Buffer.alloc(MiB);
  try {
    let differing = 0;
    for (const { area, piece } of torrentPieces(m)) {
      const part = m.disks[0]!.partitions.find((p) => p.number === area.partitionNumber);
      const base = area.kind === 'partition' ? part!.startBytes : area.kind === 'head' ? (m.disks[0]!.table.firstLba ?? 34) * 512 : 0;
      const same = piece.runs.every(([offset, length]) => {
        for (let at = 0; at < length; at += MiB) {
          const n = Math.min(MiB, length - at);
          readSync(a, bufA, 0, n, base + offset + at);
          readSync(b, bufB, 0, n, base + offset + at);
          if (!bufA.subarray(0, n).equals(bufB.subarray(0, n))) return false;
        }
        return true;
      });
      if (!same) differing++;
    }
    return differing;
  } finally {
    closeSync(a);
    closeSync(b);
  }
}

const fetched = (r: LabResult, i: number): number => r.reports[i]?.downloadedBytes ?? NaN;
const pieceCount = (m: Manifest): number => [...torrentPieces(m)].length;
const mib = (n: number): string => (n / MiB).toFixed(2);

for (const transport of ['swarm', 'unicast', 'multicast'] as const) {
  T(
    `${transport}: the same image again fetches nothing, after a day of use only what changed, version 2 only what differs; every disk checks out each time`,
    async (ctx) => {
      const dir = join(ctx.dir, transport);
      let lab: Lab | undefined;
      const round = (version: number, blankDisks: boolean): Promise<LabResult> =>
        lab!.round({
          version,
          blankDisks,
          transport,
          timeoutMs: ROUND_TIMEOUT_MS,
          ...(transport === 'multicast' && { multicast: { minReceivers: PCS, maxWaitSeconds: 20 } }),
        });
      try {
        mkdirSync(dir, { recursive: true });
        lab = await openLab({ dir, store: ctx.store, image: 'lab', diskBytes: DISK_BYTES, clients: PCS, clientMbit: 200, serverMbit: 400 });
        const image = ctx.manifest.storedBytes;

        const first = await round(1, true);
        for (let i = 0; i < PCS; i++) assertPartitionsDeployed(ctx.v1, lab.disk(i), dir);
        const reference = join(dir, 'deployed-v1.img');
        copyFileSync(lab.disk(0), reference);
        console.log(`  ${transport} first: the seeder sent ${mib(first.seederSentBytes)} MiB for an image of ${mib(image)} MiB`);

        const again = await round(1, false);
        for (let i = 0; i < PCS; i++) {
          assert.is(again.reports[i]?.piecesDone, pieceCount(ctx.manifest), `PC ${i} holds every piece`);
          assert.is(fetched(again, i), 0, `PC ${i} fetched nothing`);
          assertPartitionsDeployed(ctx.v1, lab.disk(i), dir);
        }
        console.log(
          `  ${transport} same image again: PCs fetched ${again.reports.map((_, i) => mib(fetched(again, i))).join(', ')} MiB; the seeder sent ${mib(again.seederSentBytes)} MiB; ${again.spawnSeconds.map((s) => s.toFixed(1)).join(', ')} s`,
        );
        assert.ok(again.seederSentBytes <= 0.02 * image, `the seeder sent ${again.seederSentBytes} bytes for the same image again`);

        const differing: number[] = [];
        for (let i = 0; i < PCS; i++) {
          useDisk(lab.disk(i), dir, ctx.v1);
          differing.push(piecesDiffering(ctx.manifest, lab.disk(i), reference));
        }
        const used = await round(1, false);
        for (let i = 0; i < PCS; i++) {
          assertPartitionsDeployed(ctx.v1, lab.disk(i), dir);
          assert.not.ok(hasDayOfUse(lab.disk(i), dir, ctx.v1), `PC ${i}: the day's file is gone with the image's table of files`);
          assert.is(piecesDiffering(ctx.manifest, lab.disk(i), reference), 0, `PC ${i} reads as the freshly deployed disk`);
        }
        console.log(
          `  ${transport} after a day of use: ${differing.join(', ')} of ${pieceCount(ctx.manifest)} pieces differed; PCs fetched ${used.reports.map((_, i) => mib(fetched(used, i))).join(', ')} MiB; the seeder sent ${mib(used.seederSentBytes)} MiB`,
        );
        assert.ok(
          differing.every((d) => d > 0),
          'a day of use changed some pieces',
        );
        if (transport !== 'multicast') {
          // What differs, a piece each, and one more for a block asked twice near the end.
          for (let i = 0; i < PCS; i++)
            assert.ok(fetched(used, i) <= (differing[i]! + 1) * PIECE, `PC ${i} fetched ${fetched(used, i)} bytes for ${differing[i]} pieces`);
        }

        const m2 = (await openImage(ctx.store, 'lab', 2)).manifest;
        copyFileSync(reference, join(dir, 'v1-as-deployed.img'));
        const update = await round(2, false);
        for (let i = 0; i < PCS; i++) assertPartitionsDeployed(ctx.v2, lab.disk(i), dir);
        const byUpdate = piecesDiffering(m2, lab.disk(0), join(dir, 'v1-as-deployed.img'));
        console.log(
          `  ${transport} update to v2 (${mib(ctx.changedBytes)} MiB of file data changed, ${byUpdate} of ${pieceCount(m2)} pieces differ): PCs fetched ${update.reports.map((_, i) => mib(fetched(update, i))).join(', ')} MiB; the seeder sent ${mib(update.seederSentBytes)} MiB`,
        );
        if (transport !== 'multicast') {
          for (let i = 0; i < PCS; i++)
            assert.ok(fetched(update, i) <= (byUpdate + 1) * PIECE, `PC ${i} fetched ${fetched(update, i)} bytes for an update of ${byUpdate} pieces`);
        }
      } finally {
        await lab?.close();
      }
      assert.equal(labLeftovers(), []);
    },
  );
}

T("local store: deploy v1, v2 over it, then --version 1 again and the same again: the disk is each version's; image info --version 1 says v1", (ctx) => {
  const target = blankDisk(join(ctx.dir, 'local.img'), DISK_BYTES);
  shoalOk('deploy', '--store', ctx.store, '--image', 'lab', '--disk', target);
  assertPartitionsDeployed(ctx.v2, target, ctx.dir);
  for (const [version, layout] of [
    [1, ctx.v1],
    [2, ctx.v2],
    [1, ctx.v1],
    [1, ctx.v1],
  ] as const) {
    const out = shoalOk('deploy', '--store', ctx.store, '--image', 'lab', '--disk', target, '--version', String(version)).stdout;
    assert.match(out, new RegExp(`deployed lab v${version} to`));
    assertPartitionsDeployed(layout, target, ctx.dir);
  }
  assert.match(shoalOk('image', 'info', '--store', ctx.store, '--image', 'lab', '--version', '1').stdout, /^lab v1 /);
  assert.match(shoalOk('image', 'info', '--store', ctx.store, '--image', 'lab').stdout, /^lab v2 /);
  assert.match(shoalOk('verify', '--store', ctx.store, '--image', 'lab', '--version', '1').stdout, /^ok: lab v1,/);
  assert.match(shoalOk('--version').stdout, /^\d+\.\d+\.\d+/, "the program's own version stays on shoal --version");
});

/** Flips one byte of a piece in a store's copy of the image: XOR, so flipping it again repairs it. */
async function flipPieceByte(store: string, version: number, areaId: string, index: number, pieceLength: number): Promise<void> {
  const { dir } = await openImage(store, 'lab', version);
  const fd = openSync(join(dir, pieceFileName({ id: areaId })), 'r+');
  try {
    const b = Buffer.alloc(1);
    readSync(fd, b, 0, 1, index * pieceLength + 100);
    b[0] = b[0]! ^ 0xff;
    writeSync(fd, b, 0, 1, index * pieceLength + 100);
  } finally {
    closeSync(fd);
  }
}

T(
  'a deploy that fails after wiping the table keeps the task: the dashboard says it deploys again, the next boot gets the client and finishes from what is on the disk; the third failure stands',
  async (ctx) => {
    const store = join(ctx.dir, 'flaky-store');
    cpSync(ctx.store, store, { recursive: true });
    const m = (await openImage(store, 'lab')).manifest;
    const area = m.disks[0]!.areas.reduce((a, b) => (b.pieces.length > a.pieces.length ? b : a));
    const lastPiece = area.pieces.length - 1;
    const lab = await startLab(join(ctx.dir, 'flaky-data'), store, { image: 'lab' });
    const mac = '52:54:00:ee:00:01';
    const disk = blankDisk(join(ctx.dir, 'flaky-pc.img'), DISK_BYTES);
    const join1 = () => shoal('join', '--portal', lab.portal, '--disk', disk, '--mac', mac, '--transport', 'unicast');
    try {
      // The node's copy of the area's last piece is bad: every try of it fails its check.
      await flipPieceByte(store, m.version, area.id, lastPiece, m.pieceLength);
      const task = await labClient(lab).post(TaskSchema, '/api/v1/tasks', { kind: 'deploy', image: 'lab', hosts: [mac], lingerSeconds: 0 });
      const failed = join1();
      assert.is.not(failed.code, 0, 'the deploy failed');
      assert.throws(() => tableOf(disk), 'the disk is left without a table');
      let t = await labClient(lab).get(TaskSchema, `/api/v1/tasks/${task.id}`);
      assert.is(t.state, 'active', 'the task stays');
      assert.is(t.hosts[0]!.state, 'queued');
      assert.match(
        t.hosts[0]!.error ?? '',
        /failed after its partition table was wiped \(attempt 1 of 3\): .*SHA-1.*; it deploys again at its next network boot/,
      );
      const boot = await (await fetchRetry(`${lab.portal}/boot/ipxe?mac=${mac}`)).text();
      assert.match(boot, new RegExp(`shoal\\.key=`), 'its next network boot gets the client with its key');

      // The node's copy repaired (or a second node up): the next boot deploys, fetching what it lacks.
      await flipPieceByte(store, m.version, area.id, lastPiece, m.pieceLength);
      const ok = join1();
      assert.is(ok.code, 0, ok.stderr);
      t = await labClient(lab).get(TaskSchema, `/api/v1/tasks/${task.id}`);
      assert.is(t.hosts[0]!.state, 'done');
      assert.is(t.state, 'done');
      assert.ok(
        t.hosts[0]!.progress!.downloadedBytes < m.storedBytes,
        `the second boot fetched ${t.hosts[0]!.progress!.downloadedBytes} bytes, not the whole image again`,
      );
      assertPartitionsDeployed(ctx.v2, disk, ctx.dir);
      const log = (await labClient(lab).get(TaskHostLogSchema, `/api/v1/tasks/${task.id}/hosts/${mac}/log`)).entries.map((e) => e.message);
      assert.ok(log.some((l) => /attempt 1 of 3/.test(l)) && log.at(-1) === 'done', log.join(' | '));

      // A fault that does not go away: the third failure is the last, and says what it leaves.
      await flipPieceByte(store, m.version, area.id, lastPiece, m.pieceLength);
      const blank = blankDisk(join(ctx.dir, 'flaky-pc-2.img'), DISK_BYTES);
      const task2 = await labClient(lab).post(TaskSchema, '/api/v1/tasks', { kind: 'deploy', image: 'lab', hosts: [mac], lingerSeconds: 0 });
      const states: string[] = [];
      for (let i = 0; i < 3; i++) {
        assert.is.not(shoal('join', '--portal', lab.portal, '--disk', blank, '--mac', mac, '--transport', 'unicast').code, 0);
        states.push((await labClient(lab).get(TaskSchema, `/api/v1/tasks/${task2.id}`)).hosts[0]!.state);
      }
      assert.equal(states, ['queued', 'queued', 'failed']);
      t = await labClient(lab).get(TaskSchema, `/api/v1/tasks/${task2.id}`);
      assert.is(t.state, 'done', 'the task is over');
      const last = (await labClient(lab).get(TaskHostLogSchema, `/api/v1/tasks/${task2.id}/hosts/${mac}/log`)).entries.at(-1)!.message;
      assert.match(last, /for the last time: .*the PC boots nothing until it is deployed again/);
      assert.match(await (await fetchRetry(`${lab.portal}/boot/ipxe?mac=${mac}`)).text(), /nothing to do/i, 'no task left for it');
    } finally {
      await lab.stop();
      await killAll();
    }
  },
);

T.run();
