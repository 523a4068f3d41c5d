/**
 * The lab secret signs swarm keys and storage-node credentials; the portal, the trackers and the
 * seeders of one lab share it (a file each reads; `shoal start` makes it on first run, an admin
 * copies it to storage nodes). Also the admin token, kept the same way until issue 4 brings users.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { ShoalError } from '../errors.js';

/** Reads a secret file, making it (0600) with 32 random bytes when it does not exist yet. */
export function readOrCreateSecret(path: string): string {
  try {
    return readSecret(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    mkdirSync(dirname(path), { recursive: true });
    const secret = randomBytes(32).toString('base64url');
    writeFileSync(path, `${secret}\n`, { mode: 0o600, flag: 'wx' });
    return secret;
  }
}

export function readSecret(path: string): string {
  const s = readFileSync(path, 'utf8').trim();
  if (s.length < 16) throw new ShoalError(`${path}: a secret of at least 16 characters is needed`);
  return s;
}

/** The scope storage-node credentials are signed for (in place of an infohash). */
export const NODE_KEY_SCOPE = 'storage-node';

/** Their file names in a data directory. */
export const LAB_SECRET_FILE = 'lab-secret';
export const ADMIN_TOKEN_FILE = 'admin-token';
