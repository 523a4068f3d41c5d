/**
 * npm start — Shoal's main job on a sample disk, end to end, with the real CLI: makes a GPT
 * disk-image file (an EFI partition and an ext4 root with files), captures it as a resizable
 * image, shows the image, verifies it, and deploys it to a smaller disk. Needs root (loop devices).
 * Until the portal lands (issue 4) this is what `npm start` runs.
 */
import { execFileSync, execSync } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync, truncateSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const { values } = parseArgs({ options: { dir: { type: 'string', default: 'shoal-demo' } } });
const dir = resolve(values.dir!);
const CLI = fileURLToPath(new URL('../client/cli.js', import.meta.url));
const MiB = 1024 * 1024;
const sh = (cmd: string): string => execSync(cmd, { encoding: 'utf8', shell: '/bin/bash' });
const shoal = (...args: string[]): void => {
  console.log(`\n$ shoal ${args.join(' ')}`);
  execFileSync(process.execPath, [CLI, ...args], { stdio: 'inherit' });
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
const parts = JSON.parse(sh(`sfdisk --json ${disk}`)).partitiontable.partitions as Array<{ start: number; size: number }>;
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
console.log(`done: the demo image is in ${store}, deployed to the smaller disk ${target}`);
