/** What the boot image is made of, as one hash: the build records it, the tests rebuild when it moved. */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

export function bootInputsHash(root: string): string {
  const h = createHash('sha256');
  for (const f of [
    'dist/pc/cli.js',
    'dist/pc/pack-worker.js',
    'dist/pc/unpack-worker.js',
    'scripts/boot/init.sh',
    'scripts/boot/udhcpc.sh',
    'dist/scripts/build-boot-image.js',
  ]) {
    h.update(f).update(readFileSync(join(root, f)));
  }
  return h.digest('hex');
}
