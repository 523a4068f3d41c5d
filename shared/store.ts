/**
 * An image store on disk:  STORE/NAME/vN/{manifest.json, image.torrent, <area>.pieces}.
 * Captures are written under STORE/.staging/ and appear by one rename, when complete and verified.
 */
import { mkdir, readdir, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { ShoalError } from './errors.js';
import { assertImageName } from './image-name.js';
import { MANIFEST_FILE, readManifest, type Manifest } from './manifest.js';

const VERSION_DIR = /^v([1-9][0-9]*)$/;

export async function imageVersions(store: string, name: string): Promise<number[]> {
  assertImageName(name);
  try {
    const entries = await readdir(join(store, name));
    return entries.flatMap((e) => VERSION_DIR.exec(e)?.[1] ?? []).map(Number).sort((a, b) => a - b);
  } catch {
    return [];
  }
}

export interface StoredImage {
  dir: string;
  manifest: Manifest;
}

/** The newest published version of an image, or the one asked for. */
export async function openImage(store: string, name: string, version?: number): Promise<StoredImage> {
  assertImageName(name);
  try {
    await stat(store);
  } catch {
    throw new ShoalError(`store ${store} does not exist`);
  }
  const versions = await imageVersions(store, name);
  const v = version ?? versions[versions.length - 1];
  if (v === undefined || !versions.includes(v)) {
    throw new ShoalError(`no image "${name}"${version ? ` version ${version}` : ''} in store ${store}`);
  }
  const dir = join(store, name, `v${v}`);
  const manifest = await readManifest(join(dir, MANIFEST_FILE));
  if (manifest.name !== name || manifest.version !== v) throw new ShoalError(`${dir}: its manifest names ${manifest.name} v${manifest.version}`);
  return { dir, manifest };
}

export interface Staging {
  dir: string;
  version: number;
  publish(): Promise<string>;
  discard(): Promise<void>;
}

export async function createStaging(store: string, name: string): Promise<Staging> {
  assertImageName(name);
  const versions = await imageVersions(store, name);
  const version = (versions[versions.length - 1] ?? 0) + 1;
  const dir = join(store, '.staging', `${name}-v${version}-${randomUUID().slice(0, 8)}`);
  await mkdir(dir, { recursive: true });
  return {
    dir,
    version,
    async publish() {
      const target = join(store, name, `v${version}`);
      await mkdir(join(store, name), { recursive: true });
      try {
        // rename() of a directory onto an existing non-empty one fails: two captures cannot both win.
        await rename(dir, target);
      } catch (err) {
        throw new ShoalError(`cannot publish ${name} v${version}: ${(err as NodeJS.ErrnoException).code} (another capture published it first?)`);
      }
      return target;
    },
    async discard() {
      await rm(dir, { recursive: true, force: true });
    },
  };
}
