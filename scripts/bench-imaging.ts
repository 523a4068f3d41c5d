/**
 * npm run bench:imaging — Shoal's capture and deploy beside FOG's own pipeline, on the same disk,
 * in the same run:
 *   FOG capture:  partclone.<fs> -c -a0 -s PART -o - | zstdmt --rsyncable --ultra -6 > FILE
 *   FOG deploy:   zstdmt -dc FILE | partclone.restore --ignore_crc -s - -o PART
 * The disk is a GPT disk-image file with one ext4 partition holding about 1 GiB of files, half
 * random and half compressible text. Page caches are dropped before every timed step.
 * Options: --data-mib N (default 1024), --rounds N (default 2; the best time of each is kept),
 * --keep (leave the disks and images in place for profiling; the path is printed).
 */
import { execFileSync, execSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, statSync, writeFileSync, truncateSync } from 'node:fs';
import { loopOf, makeDataDisk, MiB, sh } from './bench-disk.js';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { fileURLToPath } from 'node:url';
import { parseScriptArgs } from './usage.js';

const { values } = parseScriptArgs(import.meta.url, {
  'data-mib': { type: 'string', default: '1024' },
  rounds: { type: 'string', default: '2' },
  keep: { type: 'boolean', default: false },
});
const DATA_MIB = Number(values['data-mib']);
const ROUNDS = Number(values.rounds);
const CLI = fileURLToPath(new URL('../client/cli.js', import.meta.url));
const loops: string[] = [];
const loop = (file: string, off: number, size: number): string => loopOf(file, off, size, loops);
const dropCaches = (): void => {
  sh('sync');
  writeFileSync('/proc/sys/vm/drop_caches', '3');
};
const timed = (fn: () => void): number => {
  dropCaches();
  const t = process.hrtime.bigint();
  fn();
  return Number(process.hrtime.bigint() - t) / 1e9;
};
const dirBytes = (d: string): number => readdirSync(d).reduce((n, f) => n + statSync(join(d, f)).size, 0);

const dir = mkdtempSync(join(tmpdir(), 'shoal-bench-'));
const mnt = join(dir, 'mnt');
try {
  const disk = makeDataDisk(dir, DATA_MIB);
  loops.push(...disk.loops);
  const { path: src, bytes: diskBytes, partOffset: partOff, partSize, partDev: srcDev } = disk;
  const target = join(dir, 'target.img');
  writeFileSync(target, '');
  truncateSync(target, diskBytes);
  sh(`sfdisk --quiet ${target} < <(sfdisk --dump ${src})`);
  const dstDev = loop(target, partOff, partSize);
  const fogImage = join(dir, 'fog.img.zst');
  const store = join(dir, 'store');

  const best = { fogCapture: Infinity, fogDeploy: Infinity, shoalCapture: Infinity, shoalDeploy: Infinity };
  for (let r = 0; r < ROUNDS; r++) {
    rmSync(fogImage, { force: true });
    rmSync(store, { recursive: true, force: true });
    best.fogCapture = Math.min(
      best.fogCapture,
      timed(() => sh(`partclone.ext4 -c -a0 -q -s ${srcDev} -o - -L ${dir}/pc.log | zstdmt --rsyncable --ultra -6 -q -o ${fogImage}`)),
    );
    best.shoalCapture = Math.min(
      best.shoalCapture,
      timed(() =>
        execFileSync(process.execPath, [CLI, 'capture', '--disk', src, '--store', store, '--image', 'bench', '--type', 'multipart'], {
          stdio: ['ignore', 'ignore', process.env.SHOAL_LOG_LEVEL ? 'inherit' : 'ignore'],
        }),
      ),
    );
    best.fogDeploy = Math.min(
      best.fogDeploy,
      timed(() => sh(`zstdmt -dc -q ${fogImage} | partclone.restore --ignore_crc -q -s - -o ${dstDev} -L ${dir}/pr.log`)),
    );
    best.shoalDeploy = Math.min(
      best.shoalDeploy,
      timed(() =>
        execFileSync(process.execPath, [CLI, 'deploy', '--store', store, '--image', 'bench', '--disk', target], {
          stdio: ['ignore', 'ignore', process.env.SHOAL_LOG_LEVEL ? 'inherit' : 'ignore'],
        }),
      ),
    );
  }
  const fogBytes = statSync(fogImage).size;
  const shoalBytes = dirBytes(join(store, 'bench', 'v1'));
  const row = (what: string, fog: string, shoal: string, ratio: number): string =>
    `${what.padEnd(14)} ${fog.padStart(12)} ${shoal.padStart(12)} ${ratio.toFixed(3).padStart(8)}`;
  console.log(`imaging benchmark: ${DATA_MIB} MiB of files (half random, half text) on ext4, best of ${ROUNDS}, ${execSync('nproc').toString().trim()} cores`);
  console.log(`${'step'.padEnd(14)} ${'FOG'.padStart(12)} ${'Shoal'.padStart(12)} ${'ratio'.padStart(8)}`);
  console.log(row('capture', `${best.fogCapture.toFixed(2)} s`, `${best.shoalCapture.toFixed(2)} s`, best.shoalCapture / best.fogCapture));
  console.log(row('deploy', `${best.fogDeploy.toFixed(2)} s`, `${best.shoalDeploy.toFixed(2)} s`, best.shoalDeploy / best.fogDeploy));
  console.log(row('image size', `${(fogBytes / MiB).toFixed(1)} MiB`, `${(shoalBytes / MiB).toFixed(1)} MiB`, shoalBytes / fogBytes));
  console.log(
    JSON.stringify({
      bench: 'imaging',
      capture_ratio: +(best.shoalCapture / best.fogCapture).toFixed(3),
      deploy_ratio: +(best.shoalDeploy / best.fogDeploy).toFixed(3),
      size_ratio: +(shoalBytes / fogBytes).toFixed(3),
    }),
  );
} finally {
  try {
    execFileSync('umount', [mnt], { stdio: ['ignore', 'ignore', process.env.SHOAL_LOG_LEVEL ? 'inherit' : 'ignore'] });
  } catch {
    /* not mounted */
  }
  if (!values.keep)
    for (const l of loops)
      try {
        execFileSync('losetup', ['--detach', l]);
      } catch {
        /* gone */
      }
  if (values.keep) console.log(`kept ${dir}`);
  else rmSync(dir, { recursive: true, force: true });
}
