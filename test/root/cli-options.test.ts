/**
 * The command line's documented options, each doing what it says, run as an admin or a PC runs
 * them: the real `shoal` against a real store and a `shoal start` on loopback (--no-wake) holding
 * two versions of an image. Options covered elsewhere: the round trips (capture --type, --disk,
 * deploy --store), reimage (--version on a store), lab-unicast (--transport unicast and auto,
 * --startup-window), lab-swarm (torrent --no-web-seeds), netboot (start --pxe, --dhcp-range),
 * wake (start --no-wake). Needs root (loop devices).
 */
import { suite } from '../suite.js';
import * as assert from 'uvu/assert';
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import bencode from 'bencode';
import { blankDisk, cleanup, loop, makeDisk, MiB, mount, umount, unloop, workDir, type FixtureDisk } from './fixtures.js';
import { shoal, shoalFails, shoalOk } from './cli.js';
import { killAll, labClient, loopbackPortalArgs, shoalBackground, startLab, startProcess, waitFor, withFreePorts, type LabServer } from './processes.js';
import { PortalClient } from '../../shared/http/portal-client.js';
import { HostListSchema, ImageSchema, StorageNodeListSchema, TaskSchema } from '../../shared/http/portal-contract.js';
import { ManifestSchema, type Manifest } from '../../shared/image/manifest.js';
import { loopbackServer } from '../../scripts/loopback-server.js';

const T = suite<{ dir: string; store: string; src: FixtureDisk; lab?: LabServer }>('command-line options');

T.before(async (ctx) => {
  ctx.dir = workDir();
  ctx.store = join(ctx.dir, 'store');
  ctx.src = makeDisk(ctx.dir, 'src.img', 48, 'gpt', [{ sizeMiB: 32, fs: 'ext4', name: 'root' }], 12);
  shoalOk('capture', '--disk', ctx.src.path, '--store', ctx.store, '--image', 'lab', '--type', 'multipart');
  // Version 2: one more file in the root.
  const dev = loop(ctx.src.path, ctx.src.parts[0]!.start, ctx.src.parts[0]!.size);
  const mnt = mount(dev, 'ext4', ctx.dir);
  mkdirSync(join(mnt, 'v2'));
  umount(mnt);
  unloop(dev);
  shoalOk('capture', '--disk', ctx.src.path, '--store', ctx.store, '--image', 'lab', '--type', 'multipart');
  ctx.lab = await startLab(join(ctx.dir, 'data'), ctx.store, { image: 'lab' });
  await waitFor('version 2 published', 30_000, async () =>
    (await labClient(ctx.lab!).get(ImageSchema, '/api/v1/images/lab')).versions.length === 2 ? true : undefined,
  );
});

T.after(async (ctx) => {
  await ctx.lab?.stop();
  await killAll();
  cleanup();
});

/** What `shoal image info --json` prints: the version's manifest, checked against its schema. */
const manifestOf = (store: string, version = 1): Manifest =>
  ManifestSchema.parse(JSON.parse(shoalOk('image', 'info', '--store', store, '--image', 'lab', '--version', String(version), '--json').stdout));
const pieceHashes = (m: Manifest): string[] => m.disks.flatMap((d) => d.areas.flatMap((a) => a.pieces.map((p) => p.sha1)));

T('every command answers --help with its options', () => {
  const want: Record<string, string[]> = {
    capture: ['--disk', '--store', '--image', '--type', '--piece-length', '--zstd-level'],
    deploy: ['--store', '--portal', '--transport', '--startup-window', '--download-limit', '--image', '--disk', '--version', '--token', '--linger'],
    verify: ['--store', '--image', '--version'],
    'image info': ['--store', '--image', '--version', '--json'],
    'image list': ['--store'],
    start: [
      '--data',
      '--store',
      '--port',
      '--tracker-port',
      '--seeder-port',
      '--bt-port',
      '--upload-limit',
      '--advertise',
      '--database',
      '--multicast-interface',
      '--import-root',
      '--pxe',
      '--dhcp-range',
      '--boot-dir',
      '--no-wake',
    ],
    join: ['--portal', '--disk', '--mac', '--key', '--wait', '--download-limit', '--upload-limit', '--transport', '--startup-window'],
    torrent: ['--portal', '--image', '--out', '--version', '--token', '--no-web-seeds'],
  };
  for (const [cmd, options] of Object.entries(want)) {
    const r = shoalOk(...cmd.split(' '), '--help');
    for (const o of options) assert.ok(r.stdout.includes(o), `shoal ${cmd} --help names ${o}`);
  }
  assert.match(shoalOk('--version').stdout, /^\d+\.\d+\.\d+\n$/);
});

T('capture --piece-length and --zstd-level: the image is cut and packed as asked; values out of range refused', (ctx) => {
  const stores = { quick: join(ctx.dir, 'store-quick'), tight: join(ctx.dir, 'store-tight'), usual: join(ctx.dir, 'store-usual') };
  shoalOk('capture', '--disk', ctx.src.path, '--store', stores.quick, '--image', 'lab', '--type', 'multipart', '--zstd-level', '1', '--piece-length', '262144');
  shoalOk('capture', '--disk', ctx.src.path, '--store', stores.tight, '--image', 'lab', '--type', 'multipart', '--zstd-level', '19');
  shoalOk('capture', '--disk', ctx.src.path, '--store', stores.usual, '--image', 'lab', '--type', 'multipart');
  const [q, t, u] = [manifestOf(stores.quick), manifestOf(stores.tight), manifestOf(stores.usual)];
  assert.is(q.pieceLength, 262144);
  assert.equal([t.pieceLength, u.pieceLength], [MiB, MiB], 'the default piece length');
  assert.equal([q.zstdLevel, t.zstdLevel, u.zstdLevel], [1, 19, 6]);
  // The same data at another level is other compressed bytes: other pieces.
  assert.not.equal(pieceHashes(t), pieceHashes(u));
  const disk = blankDisk(join(ctx.dir, 'from-tight.img'), 48 * MiB);
  shoalOk('deploy', '--store', stores.tight, '--image', 'lab', '--disk', disk);
  shoalOk('verify', '--store', stores.tight, '--image', 'lab');
  assert.match(
    shoalFails('capture', '--disk', ctx.src.path, '--store', stores.quick, '--image', 'x', '--type', 'raw', '--zstd-level', '23'),
    /zstd level, 1 to 22/,
  );
  assert.match(
    shoalFails('capture', '--disk', ctx.src.path, '--store', stores.quick, '--image', 'x', '--type', 'raw', '--zstd-level', '0'),
    /zstd level, 1 to 22/,
  );
});

T('image info --json and image list: the manifest itself, and every image with its versions', (ctx) => {
  const m = manifestOf(ctx.store, 1);
  assert.is(m.name, 'lab');
  assert.is(m.version, 1);
  assert.is(manifestOf(ctx.store, 2).version, 2);
  const list = shoalOk('image', 'list', '--store', ctx.store).stdout;
  assert.match(list, /^name\s+versions\s+type\s+data\s+stored\s+captured\n/);
  assert.match(list, /\nlab\s+v1,v2\s+multipart\s/);
  const empty = join(ctx.dir, 'empty-store');
  mkdirSync(empty);
  assert.is(shoalOk('image', 'list', '--store', empty).stdout, `no images in ${empty}\n`);
});

T(
  'deploy --portal: --version picks the version, the token from --token or $SHOAL_TOKEN, --linger keeps seeding, --download-limit holds the rate',
  async (ctx) => {
    const lab = ctx.lab!;
    const disk = blankDisk(join(ctx.dir, 'd1.img'), 48 * MiB);
    const v1 = shoalBackground(['deploy', '--portal', lab.portal, '--image', 'lab', '--version', '1', '--disk', disk, '--transport', 'unicast'], {
      SHOAL_TOKEN: lab.token,
    });
    const r1 = await v1.exited;
    assert.is(r1.code, 0, r1.stderr);
    assert.match(r1.stdout, /deployed lab v1 to /);
    const noToken = shoalBackground(['deploy', '--portal', lab.portal, '--image', 'lab', '--disk', disk, '--transport', 'unicast'], { SHOAL_TOKEN: '' });
    const r0 = await noToken.exited;
    assert.is.not(r0.code, 0);
    assert.match(r0.stderr, /shoal: error: .*(401|token)/i);
    // The newest by default, through the swarm, seeding 3 s after it is done (no task: nobody says the group is done).
    const lingered = Date.now();
    const r2 = await shoalBackground(['deploy', '--portal', lab.portal, '--image', 'lab', '--disk', disk, '--token', lab.token, '--linger', '3']).exited;
    assert.is(r2.code, 0, r2.stderr);
    assert.match(r2.stdout, /deployed lab v2 to .* through the swarm/);
    assert.ok(Date.now() - lingered >= 3_000, 'it kept seeding for --linger');
    assert.match(shoalFails('deploy', '--portal', lab.portal, '--image', 'lab', '--disk', disk, '--linger', 'soon'), /--linger.*non-negative number/);
    // 1 MiB/s over unicast: the stored image takes its size in seconds, at least.
    const stored = manifestOf(ctx.store, 2).storedBytes;
    const limited = Date.now();
    const r3 = await shoalBackground([
      'deploy',
      '--portal',
      lab.portal,
      '--image',
      'lab',
      '--disk',
      blankDisk(join(ctx.dir, 'd2.img'), 48 * MiB),
      '--token',
      lab.token,
      '--transport',
      'unicast',
      '--download-limit',
      String(MiB),
    ]).exited;
    assert.is(r3.code, 0, r3.stderr);
    const seconds = (Date.now() - limited) / 1000;
    assert.ok(seconds >= (0.8 * stored) / MiB, `${(stored / MiB).toFixed(1)} MiB at 1 MiB/s took ${seconds.toFixed(1)} s`);
  },
);

T('torrent --version and --token: the .torrent of the version asked for; a wrong token refused', async (ctx) => {
  const lab = ctx.lab!;
  const out = join(ctx.dir, 'v1.torrent');
  shoalOk('torrent', '--portal', lab.portal, '--image', 'lab', '--version', '1', '--out', out, '--token', lab.token);
  const t = bencode.decode(readFileSync(out)) as { info: unknown };
  const infoHash = createHash('sha1').update(bencode.encode(t.info)).digest('hex');
  const image = await labClient(lab).get(ImageSchema, '/api/v1/images/lab');
  assert.is(infoHash, image.versions.find((v) => v.version === 1)!.infoHash);
  assert.is.not(infoHash, image.versions.find((v) => v.version === 2)!.infoHash);
  assert.match(shoalFails('torrent', '--portal', lab.portal, '--image', 'lab', '--out', out, '--token', 'not-a-token'), /shoal: error: .*(401|token)/i);
  assert.match(shoalFails('torrent', '--portal', lab.portal, '--image', 'lab', '--out', out, '--version', '0'), /positive integer/);
});

T('join --wait: a task made while the PC waits is run; --download-limit holds its rate', async (ctx) => {
  const lab = ctx.lab!;
  const mac = '52:54:00:c1:00:01';
  const disk = blankDisk(join(ctx.dir, 'pc.img'), 48 * MiB);
  assert.match(shoalOk('join', '--portal', lab.portal, '--disk', disk, '--mac', mac).stdout, /no task for 52:54:00:c1:00:01: nothing to do/);
  const started = Date.now();
  const pc = shoalBackground([
    'join',
    '--portal',
    lab.portal,
    '--disk',
    disk,
    '--mac',
    mac,
    '--wait',
    '60',
    '--transport',
    'unicast',
    '--download-limit',
    String(MiB),
  ]);
  await new Promise((r) => setTimeout(r, 2_000));
  await labClient(lab).post(TaskSchema, '/api/v1/tasks', { kind: 'deploy', image: 'lab', hosts: [mac], lingerSeconds: 0, wake: false });
  const r = await pc.exited;
  assert.is(r.code, 0, r.stderr);
  assert.match(r.stdout, /task \d+: deployed lab v2/);
  const stored = manifestOf(ctx.store, 2).storedBytes;
  assert.ok((Date.now() - started) / 1000 >= 2 + (0.8 * stored) / MiB, 'the task came while it waited, and its pieces at 1 MiB/s');
});

T(
  'start: --advertise and --bt-port are where the node says PCs reach it; --dhcp-range needs --pxe; --boot-dir without a boot image is refused with --pxe',
  async (ctx) => {
    const { nodes } = await labClient(ctx.lab!).get(StorageNodeListSchema, '/api/v1/nodes');
    assert.is(nodes.length, 1);
    assert.match(nodes[0]!.btAddr, /^127\.0\.0\.1:\d+$/);
    assert.match(nodes[0]!.httpUrl, /^http:\/\/127\.0\.0\.1:\d+/);
    assert.match(shoalFails('start', '--data', join(ctx.dir, 'data-x'), '--dhcp-range', '10.0.0.10,10.0.0.20'), /--dhcp-range needs --pxe/);
    const r = shoal(
      'start',
      '--data',
      join(ctx.dir, 'data-y'),
      '--pxe',
      'lo',
      '--boot-dir',
      join(ctx.dir, 'no-boot-image'),
      '--no-wake',
      ...(await withFreePorts('--port', '--tracker-port', '--seeder-port', '--bt-port')),
    );
    assert.is.not(r.code, 0);
    assert.match(r.stderr, /no-boot-image lacks .*npm run build:boot/);
    assert.match(shoalFails('start', '--port', '70000'), /port number, 1 to 65535/);
  },
);

T('start --enrolment: open takes a new MAC as it comes, approve (the default) keeps it waiting; a choice it does not know is refused', async (ctx) => {
  assert.match(shoalFails('start', '--enrolment', 'sometimes'), /--enrolment.*Allowed choices are approve, open/);
  const badUrl = shoal('start', '--data', join(ctx.dir, 'data-url'), '--pxe', 'lo', '--advertise', 'a b');
  assert.is.not(badUrl.code, 0);
  assert.match(badUrl.stderr, /--public-url http:\/\/a b:8080: give http.*\n.*the portal exited with code 1 while starting/);
  const register = async (portal: string, mac: string) => {
    await fetch(`${portal}/api/v1/hosts/register`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ mac }) });
    const token = readFileSync(join(ctx.dir, 'data-open', 'admin-token'), 'utf8').trim();
    return (await new PortalClient({ url: portal, token }).get(HostListSchema, `/api/v1/hosts?search=${mac}`)).hosts[0]?.pending;
  };
  const open = await loopbackServer({ data: join(ctx.dir, 'data-open'), extra: ['--enrolment', 'open'] });
  const { child, exited } = shoalBackground(open.args);
  try {
    const portal = open.portal;
    await waitFor('the portal', 30_000, async () => ((await fetch(`${portal}/healthz`).catch(() => undefined))?.ok ? true : undefined));
    assert.is(await register(portal, '52:54:00:0e:00:01'), false, '--enrolment open');
    const approve = await startProcess('portal', await loopbackPortalArgs(join(ctx.dir, 'data-approve')));
    try {
      await fetch(`${approve.url}/api/v1/hosts/register`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ mac: '52:54:00:0e:00:02' }),
      });
      const token = readFileSync(join(ctx.dir, 'data-approve', 'admin-token'), 'utf8').trim();
      const [h] = (await new PortalClient({ url: approve.url, token }).get(HostListSchema, '/api/v1/hosts?search=52:54:00:0e:00:02')).hosts;
      assert.is(h?.pending, true, 'the default: approve');
    } finally {
      await approve.kill('SIGTERM');
    }
  } finally {
    child.kill('SIGTERM');
    await exited;
  }
});

T(
  'start --tls-cert/--tls-key/--no-tls: a certificate made on first start is printed with its fingerprint and trusted by the CLI through NODE_EXTRA_CA_CERTS; a given one is served; --no-tls says admins go in clear',
  async (ctx) => {
    const run = async (data: string, extra: string[], whileUp: (portal: string) => Promise<void> = async () => {}) => {
      const srv = await loopbackServer({ data: join(ctx.dir, data), extra });
      const { child, exited } = shoalBackground(srv.args);
      try {
        let said = '';
        child.stdout!.on('data', (d) => (said += d));
        await waitFor('the server up and saying where', 30_000, async () => (said.includes('Ctrl-C stops all three') ? true : undefined));
        await whileUp(srv.portal);
      } finally {
        child.kill('SIGTERM');
      }
      return exited;
    };
    const cert = join(ctx.dir, 'data-tls', 'tls', 'cert.pem');
    const made = await run('data-tls', [], async (portal) => {
      const https = portal.replace('http:', 'https:');
      const out = join(ctx.dir, 'over-tls.torrent');
      const untrusted = shoal('torrent', '--portal', https, '--image', 'lab', '--out', out, '--token', 'x');
      assert.is.not(untrusted.code, 0);
      assert.match(untrusted.stderr, /shoal: error: .*(certificate|self.signed)/i, 'a certificate it was not told to trust stops the CLI');
      process.env.NODE_EXTRA_CA_CERTS = cert;
      try {
        const token = readFileSync(join(ctx.dir, 'data-tls', 'admin-token'), 'utf8').trim();
        const r = shoal('torrent', '--portal', https, '--image', 'lab', '--out', out, '--token', token);
        // This server's store is empty: the portal's answer over TLS is what counts here.
        assert.match(r.stderr, /image lab not found/, `the CLI reached the portal over HTTPS: ${r.stderr}`);
      } finally {
        delete process.env.NODE_EXTRA_CA_CERTS;
      }
    });
    const fp = /TLS {6}a certificate made for this machine (\S+), SHA-256 ([0-9A-F:]{95})/.exec(made.stdout);
    assert.ok(fp, `shoal start prints the certificate it made and its fingerprint:\n${made.stdout}`);
    assert.is(fp[1], cert);
    const fingerprint = fp[2]!;
    assert.match(made.stdout, new RegExp(`export NODE_EXTRA_CA_CERTS=${cert}`));
    assert.match(made.stdout, /web UI {3}https:\/\/127\.0\.0\.1:\d+\/ .*PCs use plain HTTP on the same port/);
    const key = join(ctx.dir, 'data-tls', 'tls', 'key.pem');
    const given = await run('data-tls-given', ['--tls-cert', cert, '--tls-key', key]);
    assert.ok(given.stdout.includes(`TLS      certificate ${cert}, SHA-256 ${fingerprint}`), `the given certificate:\n${given.stdout}`);
    const off = await run('data-tls-off', ['--no-tls']);
    assert.match(off.stdout, /TLS {6}off \(--no-tls\): logins and tokens cross the network in clear/);
    assert.match(off.stdout, /web UI {3}http:\/\/127\.0\.0\.1:\d+\//);
    const half = shoal(...(await loopbackServer({ data: join(ctx.dir, 'data-tls-half'), extra: ['--tls-cert', cert] })).args);
    assert.is.not(half.code, 0);
    assert.match(half.stderr, /--tls-cert and --tls-key go together/);
  },
);

T('portal --public-url: the boot script sends PCs to that URL, whatever Host the request came to', async (ctx) => {
  const portal = await startProcess('portal', await loopbackPortalArgs(join(ctx.dir, 'data-public'), '--public-url', 'http://boot.lab.example:8080'));
  try {
    const token = readFileSync(join(ctx.dir, 'data-public', 'admin-token'), 'utf8').trim();
    const script = await (await fetch(`${portal.url}/boot/ipxe`, { headers: { authorization: `Bearer ${token}` } })).text();
    assert.match(script, /chain http:\/\/boot\.lab\.example:8080\/boot\/ipxe\?mac=/);
    assert.ok(statSync(join(ctx.dir, 'data-public', 'shoal.sqlite')).size > 0);
  } finally {
    await portal.kill();
  }
});

T.run();
