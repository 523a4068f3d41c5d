/**
 * An image store on disk:  STORE/NAME/vN/{manifest.json, image.torrent, <area>.pieces}.
 * Captures are written under STORE/.staging/ and appear by one rename, when complete and verified.
 */
import { mkdir, open, readdir, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { ShoalError } from '../errors.js';
import { assertImageName } from './image-name.js';
import { MANIFEST_FILE, readManifest, type Manifest } from './manifest.js';

const VERSION_DIR = /^v([1-9][0-9]*)$/;

export async function imageVersions(store: string, name: string): Promise<number[]> {
  assertImageName(name);
  try {
    const entries = await readdir(join(store, name));
    return entries
      .flatMap((e) => VERSION_DIR.exec(e)?.[1] ?? [])
      .map(Number)
      .sort((a, b) => a - b);
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

const STAGING_DIR = /^.+-v\d+-(\d+)-[0-9a-f]{8}$/;

/** Whether a process of that pid runs (a leftover's owner). */
export const isAlive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
};

/** Staging directories of captures whose process is gone (killed, power cut) are removed. */
async function sweepStaging(store: string): Promise<void> {
  const entries = await readdir(join(store, '.staging')).catch(() => [] as string[]);
  for (const e of entries) {
    const pid = Number(STAGING_DIR.exec(e)?.[1]);
    if (pid && !isAlive(pid)) await rm(join(store, '.staging', e), { recursive: true, force: true });
  }
}

/** Staging for the next version of an image, or for a given one (a replica keeps its source's version). */
export async function createStaging(store: string, name: string, given?: number): Promise<Staging> {
  assertImageName(name);
  await sweepStaging(store);
  const versions = await imageVersions(store, name);
  if (given !== undefined && versions.includes(given)) throw new ShoalError(`${name} v${given} is already in store ${store}`);
  const version = given ?? (versions[versions.length - 1] ?? 0) + 1;
  // The pid in the name lets a later capture tell a dead capture's leftovers from a running one's.
  const dir = join(store, '.staging', `${name}-v${version}-${process.pid}-${randomUUID().slice(0, 8)}`);
  await mkdir(dir, { recursive: true });
  return {
    dir,
    version,
    async publish() {
      const target = join(store, name, `v${version}`);
      await mkdir(join(store, name), { recursive: true });
      // Every file and the directory itself reach the disk before the rename makes them visible.
      for (const f of await readdir(dir)) await fsyncPath(join(dir, f));
      await fsyncPath(dir);
      try {
        // rename() of a directory onto an existing non-empty one fails: two captures cannot both win.
        await rename(dir, target);
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        const why = code === 'EEXIST' || code === 'ENOTEMPTY' ? 'another capture published that version first' : (err as Error).message;
        throw new ShoalError(`cannot publish ${name} v${version}: ${why}`);
      }
      await fsyncPath(join(store, name));
      return target;
    },
    async discard() {
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** Every image in a store with its published versions, for listings. */
export async function listImages(store: string): Promise<Array<{ name: string; versions: number[] }>> {
  const entries = await readdir(store, { withFileTypes: true }).catch(() => {
    throw new ShoalError(`store ${store} does not exist`);
  });
  const out: Array<{ name: string; versions: number[] }> = [];
  for (const e of entries) {
    if (!e.isDirectory() || e.name.startsWith('.')) continue;
    const versions = await imageVersions(store, e.name).catch(() => []);
    if (versions.length) out.push({ name: e.name, versions });
  }
  return out.sort((a, b) => a.name.localeCompare(b.name));
}

/** fsync a file or a directory (a directory's fsync makes the names in it durable). */
export async function fsyncPath(path: string): Promise<void> {
  const fh = await open(path, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}
