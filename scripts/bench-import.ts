/**
 * npm run bench:import (root) — `shoal import fog` of a FOG image beside FOG's own restore of the
 * same image, in the same run (docs/foreign-images.md):
 *   the image:    a FOG "multipart" image of a GPT disk-image file with one ext4 partition holding
 *                 DATA MiB of files (half random, half text), in FOG's default format: partclone
 *                 -a0 through `zstdmt --rsyncable --ultra -6` (FOG_IMAGE_COMPRESSION_FORMAT_DEFAULT
 *                 5, FOG_PIGZ_COMP 6), with d1.mbr (sgdisk -b) and d1.partitions (sfdisk -d)
 *   FOG restore:  cat d1p1.img* | zstdmt -dc | partclone.restore --ignore_crc -s - -o PART
 *                 onto the partition of a disk-image file (fos writeImage), then sync: the
 *                 restore is done when its bytes are on the disk, as the import's are (it
 *                 fdatasyncs its pieces before publishing); without it the restore's time was
 *                 the page cache's, 2.8 to 4.9 s from one run to the next
 *   Shoal import: shoal import fog FOLDER --store S --image bench
 * Page caches are dropped before every timed step. Targets: import time ≤ 1.0× FOG's restore,
 * the Shoal image's stored bytes ≤ 1.05× the FOG folder's. Ends with one JSON line.
 * Options: --data-mib N (default 1024), --rounds N (default 2; the best time of each is kept),
 * --keep (leave the disk files, folder and store in place, their loop devices detached; the path is printed).
 */
import { execFileSync, execSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { fileURLToPath } from 'node:url';
import { loopOf, makeDataDisk, MiB, sh } from './bench-disk.js';
import { parseScriptArgs } from './usage.js';

const { values } = parseScriptArgs(import.meta.url, {
  'data-mib': { type: 'string', default: '1024' },
  rounds: { type: 'string', default: '2' },
  keep: { type: 'boolean', default: false },
});
const DATA_MIB = Number(values['data-mib']);
const ROUNDS = Number(values.rounds);
if (!(DATA_MIB >= 16) || !(ROUNDS >= 1)) throw new Error('--data-mib: 16 or more; --rounds: 1 or more');
const CLI = fileURLToPath(new URL('../client/cli.js', import.meta.url));
const loops: string[] = [];
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
/** Bytes of every file under `d`, as stored (apparent sizes). */
const treeBytes = (d: string): number =>
  readdirSync(d, { withFileTypes: true }).reduce((n, e) => n + (e.isDirectory() ? treeBytes(join(d, e.name)) : statSync(join(d, e.name)).size), 0);

const dir = mkdtempSync(join(tmpdir(), 'shoal-bench-import-'));
try {
  const disk = makeDataDisk(dir, DATA_MIB);
  loops.push(...disk.loops);

  // The FOG image, as fog.upload's "mps" branch writes it (not timed: the benchmark is the import).
  const folder = join(dir, 'fog-bench');
  mkdirSync(folder);
  const t0 = process.hrtime.bigint();
  sh(`sgdisk -b ${folder}/d1.mbr ${disk.path} >/dev/null`);
  sh(`sfdisk --dump ${disk.path} | sed -e 's#^device: .*#device: /dev/sda#' -e 's#^${disk.path}\\([0-9]\\)#/dev/sda\\1#' > ${folder}/d1.partitions`);
  sh(`partclone.extfs -c -a0 -s ${disk.partDev} -o - -L ${dir}/pc.log | zstdmt --rsyncable --ultra -6 -q > ${folder}/d1p1.img`);
  const fogCaptureSeconds = Number(process.hrtime.bigint() - t0) / 1e9;
  disk.release();

  const target = join(dir, 'target.img');
  writeFileSync(target, '');
  truncateSync(target, disk.bytes);
  sh(`sgdisk -g -l ${folder}/d1.mbr ${target} >/dev/null`);
  const targetPart = loopOf(target, disk.partOffset, disk.partSize, loops);
  const store = join(dir, 'store');

  const best = { fogRestore: Infinity, shoalImport: Infinity };
  for (let r = 0; r < ROUNDS; r++) {
    best.fogRestore = Math.min(
      best.fogRestore,
      timed(() => sh(`cat ${folder}/d1p1.img* | zstdmt -dc -q | partclone.restore --ignore_crc -q -s - -o ${targetPart} -L ${dir}/pr.log && sync`)),
    );
    rmSync(store, { recursive: true, force: true });
    best.shoalImport = Math.min(
      best.shoalImport,
      timed(() =>
        execFileSync(process.execPath, [CLI, 'import', 'fog', folder, '--store', store, '--image', 'bench'], {
          stdio: ['ignore', 'ignore', process.env.SHOAL_LOG_LEVEL ? 'inherit' : 'ignore'],
        }),
      ),
    );
  }
  const fogBytes = treeBytes(folder);
  const shoalBytes = treeBytes(join(store, 'bench', 'v1'));
  const timeRatio = best.shoalImport / best.fogRestore;
  const sizeRatio = shoalBytes / fogBytes;
  const row = (what: string, fog: string, shoal: string, ratio: string): string =>
    `${what.padEnd(12)} ${fog.padStart(14)} ${shoal.padStart(14)} ${ratio.padStart(8)}`;
  console.log(
    `import benchmark: ${DATA_MIB} MiB of files (half random, half text) on ext4, FOG format 5 (zstd -6), best of ${ROUNDS}, ${execSync('nproc').toString().trim()} cores`,
  );
  console.log(`(FOG's capture of it took ${fogCaptureSeconds.toFixed(1)} s, untimed in the figures)`);
  console.log(row('step', 'FOG restore', 'Shoal import', 'ratio'));
  console.log(row('time', `${best.fogRestore.toFixed(2)} s`, `${best.shoalImport.toFixed(2)} s`, timeRatio.toFixed(3)));
  console.log(row('size', `${(fogBytes / MiB).toFixed(1)} MiB`, `${(shoalBytes / MiB).toFixed(1)} MiB`, sizeRatio.toFixed(3)));
  console.log(JSON.stringify({ bench: 'import', time_over_fog_restore: +timeRatio.toFixed(3), size_over_fog: +sizeRatio.toFixed(3) }));
} finally {
  // Detached also with --keep: the files are what is kept, and a loop device outlives the process.
  for (const l of loops)
    try {
      execFileSync('losetup', ['--detach', l], { stdio: 'ignore' });
    } catch {
      /* gone */
    }
  if (values.keep) console.log(`kept ${dir}`);
  else rmSync(dir, { recursive: true, force: true });
}
