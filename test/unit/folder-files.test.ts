/**
 * An import's reads under `--within` (client/import/folder-files.ts): a file opened through a
 * symbolic link that leads out of the folder is refused, one that stays inside is read, a missing
 * optional file is just missing, and without `within` links are followed as before.
 */
import { suite } from '../suite.js';
import * as assert from 'uvu/assert';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { folderFiles } from '../../client/import/folder-files.js';

const T = suite<{ dir: string; root: string }>('an import reads only what lies within its root');

T.before((ctx) => {
  ctx.dir = mkdtempSync(join(tmpdir(), 'shoal-within-'));
  ctx.root = join(ctx.dir, 'root');
  mkdirSync(join(ctx.root, 'img'), { recursive: true });
  writeFileSync(join(ctx.dir, 'secret'), 'not for an image');
  writeFileSync(join(ctx.root, 'img', 'd1.mbr'), 'boot sector');
  writeFileSync(join(ctx.root, 'shared.partitions'), 'table');
  symlinkSync(join(ctx.dir, 'secret'), join(ctx.root, 'img', 'd1.partitions'));
  symlinkSync(join(ctx.root, 'shared.partitions'), join(ctx.root, 'img', 'd2.partitions'));
});
T.after(({ dir }) => rmSync(dir, { recursive: true, force: true }));

T('a link out is refused for every way of reading; a link within and a plain file are read', async ({ root }) => {
  const files = folderFiles(root);
  const out = join(root, 'img', 'd1.partitions');
  const refused = /img\/d1\.partitions leads out of .*root \(to .*\/secret\): not read/;
  for (const read of [() => files.readFile(out), () => files.readOptional(out), () => files.open(out), () => files.stream(out, 1024)])
    await read().then(
      () => assert.unreachable('read a file outside the root'),
      (err: Error) => assert.match(err.message, refused),
    );
  assert.is((await files.readFile(join(root, 'img', 'd2.partitions'))).toString(), 'table');
  assert.is((await files.readFile(join(root, 'img', 'd1.mbr'))).toString(), 'boot sector');
  assert.is(await files.readOptional(join(root, 'img', 'd1.grub.mbr')), undefined);
  let streamed = '';
  for await (const chunk of await files.stream(join(root, 'img', 'd1.mbr'), 4)) streamed += String(chunk);
  assert.is(streamed, 'boot sector');
});

T('without a root, links are followed; a root that does not exist is an error', async ({ root, dir }) => {
  assert.is((await folderFiles().readFile(join(root, 'img', 'd1.partitions'))).toString(), 'not for an image');
  assert.throws(() => folderFiles(join(dir, 'nowhere')), /--within .*nowhere does not exist/);
});

T.run();
