/**
 * The image the lab benchmarks deploy, and the wait for a server to offer it: a data disk
 * (bench-disk.ts) captured into a store of its own, and a portal polled until a storage node holds
 * an image. One place, so that the benchmarks and the lab run measure the same thing.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { makeDataDisk } from '../bench-disk.js';
import { PortalClient } from '../../shared/http/portal-client.js';
import { ImageListSchema } from '../../shared/http/portal-contract.js';

const CLI = fileURLToPath(new URL('../../client/cli.js', import.meta.url));
const POLL_MS = 500;
const POLLS = 120;

/**
 * A data disk of `dataMib` in `dir`, captured into `dir/store` as a multipart `image` (`extra`:
 * more capture options, a piece length). Its loop devices are released: only the file is needed.
 */
export function captureDataImage(dir: string, dataMib: number, image: string, extra: string[] = []): { store: string; diskBytes: number } {
  const disk = makeDataDisk(dir, dataMib);
  disk.release();
  const store = join(dir, 'store');
  execFileSync(process.execPath, [CLI, 'capture', '--disk', disk.path, '--store', store, '--image', image, '--type', 'multipart', ...extra], {
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  return { store, diskBytes: disk.bytes };
}

/**
 * Waits (at most a minute) until the portal at `portal`, whose data directory is `dataDir`, lists an
 * image held by a storage node; returns the admin token it wrote there.
 */
export async function waitForHeldImage(portal: string, dataDir: string): Promise<string> {
  for (let i = 0; i < POLLS; i++) {
    await new Promise((r) => setTimeout(r, POLL_MS));
    try {
      const token = readFileSync(join(dataDir, 'admin-token'), 'utf8').trim();
      const { images } = await new PortalClient({ url: portal, token }).get(ImageListSchema, '/api/v1/images');
      if (images.some((x) => x.nodes.length)) return token;
    } catch {
      /* not up yet */
    }
  }
  throw new Error(`the portal at ${portal} listed no image held by a storage node within ${(POLLS * POLL_MS) / 1000} s`);
}
