/**
 * npm start — Shoal's main job on a sample disk, end to end, with the real CLI: makes a GPT
 * disk-image file (an EFI partition and an ext4 root with files), captures it as a resizable
 * image, shows the image, verifies it, and deploys it to a smaller disk. Then it starts the lab
 * server on that store (`shoal start`: portal, tracker and seeder on SQLite), deploys the image
 * once more through the server's swarm, and leaves the server running. Needs root (loop devices).
 */
import { execFileSync, execSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync, truncateSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { PortalClient } from '../shared/http/portal-client.js';
import { ImageListSchema } from '../shared/http/portal-contract.js';
import { partitionsOf } from './bench-disk.js';

const { values } = parseArgs({ options: { dir: { type: 'string', default: 'shoal-demo' } } });
const dir = resolve(values.dir);
const CLI = fileURLToPath(new URL('../client/cli.js', import.meta.url));
const MiB = 1024 * 1024;
const token = (): string => readFileSync(join(dir, 'data', 'admin-token'), 'utf8').trim();
const sh = (cmd: string): string => execSync(cmd, { encoding: 'utf8', shell: '/bin/bash' });
const shoal = (...args: string[]): void => {
  console.log(`\n$ shoal ${args.join(' ')}`);
  execFileSync(process.execPath, [CLI, ...args], {
    stdio: 'inherit',
    env: { ...process.env, ...(existsSync(join(dir, 'data', 'admin-token')) && { SHOAL_TOKEN: token() }) },
  });
};

rmSync(dir, { recursive: true, force: true });
mkdirSync(join(dir, 'files'), { recursive: true });
for (let i = 0; i < 20; i++) writeFileSync(join(dir, 'files', `note-${i}.txt`), `Shoal demo file ${i}\n`.repeat(20000 + i));
const disk = join(dir, 'reference-pc.img');
writeFileSync(disk, '');
truncateSync(disk, 512 * MiB);
sh(`sfdisk --quiet ${disk} <<'EOF'
label: gpt
size=64MiB, type=C12A7328-F81F-11D2-BA4B-00A0C93EC93B, name="EFI system"
size=+, type=0FC63DAF-8483-4772-8E79-3D69D8477DE4, name="root"
EOF`);
const parts = partitionsOf(disk);
const [efi, root] = parts.map((p) => sh(`losetup --find --show --offset ${p.start * 512} --sizelimit ${p.size * 512} ${disk}`).trim());
try {
  sh(`mkfs.vfat -F 32 -n EFI ${efi} && mkfs.ext4 -q -F -L root -d ${join(dir, 'files')} ${root}`);
} finally {
  sh(`losetup --detach ${efi} && losetup --detach ${root}`);
}
console.log(`made ${disk}: GPT, a FAT32 EFI partition and an ext4 root holding ${20} files`);
const store = join(dir, 'store');
shoal('capture', '--disk', disk, '--store', store, '--image', 'demo', '--type', 'resizable');
shoal('image', 'info', '--store', store, '--image', 'demo');
shoal('verify', '--store', store, '--image', 'demo');
const target = join(dir, 'lab-pc.img');
writeFileSync(target, '');
truncateSync(target, 256 * MiB);
shoal('deploy', '--store', store, '--image', 'demo', '--disk', target);
console.log(`\n${sh(`sfdisk --list ${target}`)}`);
console.log(`deployed: the demo image is in ${store}, deployed to the smaller disk ${target}`);

// The lab server on this store, and a deploy through its swarm as a PC would get it.
const data = join(dir, 'data');
const ports = { portal: 8080, seeder: 8081, tracker: 8082, bt: 6881 };
console.log(`\n$ shoal start --data ${data} --store ${store} --advertise 127.0.0.1`);
const server = spawn(
  process.execPath,
  [
    CLI,
    'start',
    '--no-wake',
    '--data',
    data,
    '--store',
    store,
    '--advertise',
    '127.0.0.1',
    '--port',
    String(ports.portal),
    '--seeder-port',
    String(ports.seeder),
    '--tracker-port',
    String(ports.tracker),
    '--bt-port',
    String(ports.bt),
  ],
  { stdio: 'inherit' },
);
const stop = () => server.kill('SIGTERM');
process.once('SIGINT', stop);
process.once('SIGTERM', stop);
server.once('exit', (code) => process.exit(code ?? 0));
const portal = `http://127.0.0.1:${ports.portal}`;

// Bounded: 60 tries, 0.5 s apart, for the server to come up and publish the image.
let published = false;
for (let i = 0; i < 60 && !published; i++) {
  await new Promise((r) => setTimeout(r, 500));
  try {
    published = (await new PortalClient({ url: portal, token: token() }).get(ImageListSchema, '/api/v1/images')).images.length > 0;
  } catch {
    /* not up yet */
  }
}
if (!published) {
  console.error('the server did not publish the demo image within 30 s');
  stop();
} else {
  const swarmTarget = join(dir, 'lab-pc-2.img');
  writeFileSync(swarmTarget, '');
  truncateSync(swarmTarget, 256 * MiB);
  shoal('deploy', '--portal', portal, '--image', 'demo', '--disk', swarmTarget, '--transport', 'swarm'); // the token comes as $SHOAL_TOKEN
  const admin = portal.replace('http:', 'https:');
  const cert = join(data, 'tls', 'cert.pem');
  console.log(`\nThe lab server keeps running (Ctrl-C stops it). Open ${admin}/ (the certificate made on first
start: check its fingerprint, printed above) and log in as admin with the password printed above
(or start with SHOAL_ADMIN_PASSWORD set). PCs use plain HTTP on the same port. Or script it:
  export SHOAL_TOKEN=$(cat ${join(data, 'admin-token')}) NODE_EXTRA_CA_CERTS=${cert}
  npx shoal torrent --portal ${admin} --image demo --out demo.torrent
  curl -s --cacert ${cert} -H "authorization: Bearer $SHOAL_TOKEN" ${admin}/api/v1/images`);
}
