#!/usr/bin/env node
/**
 * A stand-in for `shoal import <fog|clonezilla> DIR --store S --image NAME --version N
 * --progress-json [--type T]` while that command is being written (client/import/, by another
 * session): the folder's `disk.img` is captured with the real `shoal capture` into the store,
 * with the import's output contract — progress lines, then `{"imported":…}`, or `shoal: error:`
 * naming the file and a non-zero exit. It lets the node-job tests try the storage node's side
 * (path checks, the process, progress, errors, registration) against a real capture.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { openImage } from '../../shared/image/store.js';

const CLI = fileURLToPath(new URL('../../client/cli.js', import.meta.url));
const args = process.argv.slice(2);
const opt = (name: string): string | undefined => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
const fail = (message: string): never => {
  process.stderr.write(`shoal: error: ${message}\n`);
  process.exit(1);
};
const [command, , dir] = args;
if (command !== 'import' || !dir) fail('usage: import <fog|clonezilla> DIR --store S --image NAME --version N --progress-json');
const store = opt('--store')!;
const image = opt('--image')!;
const version = Number(opt('--version'));
const disk = join(dir!, 'disk.img');
if (!existsSync(disk)) fail(`${join(dir!, 'd1.partitions')}: not there: ${dir} is not a FOG image folder`);
const total = statSync(disk).size;
process.stdout.write(`${JSON.stringify({ progress: { doneBytes: 0, totalBytes: total } })}\n`);
const r = spawnSync(process.execPath, [CLI, 'capture', '--disk', disk, '--store', store, '--image', image, '--type', 'multipart'], { encoding: 'utf8' });
if (r.status !== 0) fail(r.stderr.trim().split('\n').pop() ?? 'capture failed');
const published = await openImage(store, image);
if (published.manifest.version !== version) fail(`${store}: published v${published.manifest.version}, not v${version}`);
process.stdout.write(`${JSON.stringify({ progress: { doneBytes: total, totalBytes: total } })}\n`);
process.stdout.write(`${JSON.stringify({ imported: { name: image, version, dir: published.dir, infoHash: published.manifest.infoHash } })}\n`);
