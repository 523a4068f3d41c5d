/**
 * A version an admin deleted goes from this node's store: the portal names it in its answer to the
 * node's report (name, version, infohash), the node stops seeding it and removes STORE/NAME/vN,
 * then STORE/NAME if nothing else is left in it. Nothing else is ever removed: the name must be an
 * image name (no "/" or ".."), the folder must be a real directory (not a link) exactly two steps
 * under the store, and its manifest must name the same image, version and infohash the portal
 * named, so a newer capture that reused the version number, or a folder someone put there by
 * hand, is left alone.
 */
import { lstat, rm, rmdir } from 'node:fs/promises';
import { join, relative, resolve, sep } from 'node:path';
import { IMAGE_NAME_PATTERN } from '../shared/image/image-name.js';
import { MANIFEST_FILE, readManifest } from '../shared/image/manifest.js';
import { logger } from '../shared/log.js';

const log = logger('seeder');

export interface PurgeRef {
  name: string;
  version: number;
  infoHash: string;
}

/** The folder of that version in the store, when it is safe to remove; why not, otherwise. */
export async function purgeTarget(store: string, ref: PurgeRef): Promise<{ dir: string } | { refused: string }> {
  if (!IMAGE_NAME_PATTERN.test(ref.name) || ref.name.includes('..')) return { refused: `"${ref.name}" is not an image name` };
  if (!Number.isSafeInteger(ref.version) || ref.version < 1) return { refused: `"${ref.version}" is not a version` };
  const root = resolve(store);
  const dir = resolve(root, ref.name, `v${ref.version}`);
  const steps = relative(root, dir).split(sep);
  if (steps.length !== 2 || steps[0] !== ref.name || steps[1] !== `v${ref.version}`) return { refused: `${dir} is not an image's folder in ${root}` };
  for (const d of [join(root, ref.name), dir]) {
    const s = await lstat(d).catch(() => undefined);
    if (!s) return { refused: `${d} is not there` };
    if (!s.isDirectory() || s.isSymbolicLink()) return { refused: `${d} is not a plain directory` };
  }
  const manifest = await readManifest(join(dir, MANIFEST_FILE)).catch(() => undefined);
  if (!manifest || manifest.name !== ref.name || manifest.version !== ref.version || manifest.infoHash !== ref.infoHash)
    return { refused: `${dir} does not hold ${ref.name} v${ref.version} ${ref.infoHash}` };
  return { dir };
}

/** Removes the version's folder (see above); true when it is gone. `stopSeeding` runs first. */
export async function purgeVersion(store: string, ref: PurgeRef, stopSeeding: (infoHash: string) => Promise<void>): Promise<boolean> {
  const target = await purgeTarget(store, ref);
  if ('refused' in target) {
    log.warn({ image: ref.name, version: ref.version, why: target.refused }, 'not removing a deleted image: its folder is not what the portal named');
    return false;
  }
  await stopSeeding(ref.infoHash);
  await rm(target.dir, { recursive: true, force: true });
  // The image's own folder goes too once no version is left in it (rmdir takes only an empty one).
  await rmdir(join(resolve(store), ref.name)).catch(() => undefined);
  log.info({ image: ref.name, version: ref.version, dir: target.dir }, 'removed a deleted image from the store');
  return true;
}
