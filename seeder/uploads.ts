/**
 * Captures over the network land here: a PC sends each piece as soon as it is made, the node
 * checks it against the SHA-1 sent with it and writes it to its slot in the area's piece file
 * under STORE/.uploads/NAME-IMAGEID/. Nothing there is published: publishing checks the manifest
 * and torrent against each other and against every piece received (re-read and re-hashed), then
 * moves the files into a staging directory and publishes it by rename (store.ts). An upload cut
 * off stays, so the PC can resume it: it asks what arrived and sends only the rest.
 */
import { createHash, randomUUID } from 'node:crypto';
import { appendFile, mkdir, open, readFile, readdir, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ShoalError } from '../shared/errors.js';
import { assertImageName } from '../shared/image-name.js';
import { MANIFEST_FILE, TORRENT_FILE, parseManifest, pieceFileName, writeManifest } from '../shared/manifest.js';
import { createStaging, imageVersions } from '../shared/store.js';
import { describeTorrent } from '../shared/torrent.js';

const UPLOADS = '.uploads';
const SESSION_FILE = 'session.json';
const LOG_FILE = 'pieces.log';
const IMAGE_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const PIECE_FILE = /^d[0-9]+(p[0-9]+|head|raw)\.pieces$/;
export const MAX_PIECE_BYTES = 64 * 1024 * 1024;

export interface UploadSession {
  name: string;
  imageId: string;
  version: number;
  pieceLength: number;
  /** file → index → SHA-1 of what arrived. */
  received: Record<string, Record<number, string>>;
}

function dirOf(store: string, name: string, imageId: string): string {
  assertImageName(name);
  if (!IMAGE_ID.test(imageId)) throw new ShoalError(`"${imageId}" is not an image id`);
  return join(store, UPLOADS, `${name}-${imageId}`);
}

async function received(dir: string): Promise<UploadSession['received']> {
  const out: UploadSession['received'] = {};
  const log = await readFile(join(dir, LOG_FILE), 'utf8').catch(() => '');
  for (const line of log.split('\n')) {
    const [file, index, sha1] = line.split(' ');
    if (file && index && sha1) (out[file] ??= {})[Number(index)] = sha1;
  }
  return out;
}

// The received-pieces log is read once per upload, then kept up to date here.
const sessions = new Map<string, UploadSession>();

async function readSession(store: string, name: string, imageId: string): Promise<UploadSession> {
  const dir = dirOf(store, name, imageId);
  const cached = sessions.get(dir);
  if (cached) return cached;
  const raw = await readFile(join(dir, SESSION_FILE), 'utf8').catch(() => {
    throw new ShoalError(`no upload ${imageId} of ${name} here`);
  });
  const s = { ...(JSON.parse(raw) as Omit<UploadSession, 'received'>), received: await received(dir) };
  sessions.set(dir, s);
  return s;
}

/** Opens an upload: a new one (the next version of NAME in this store), or the one given, to resume it. */
export async function openUpload(store: string, name: string, pieceLength: number, imageId?: string): Promise<UploadSession> {
  assertImageName(name);
  if (!Number.isInteger(Math.log2(pieceLength)) || pieceLength > MAX_PIECE_BYTES) throw new ShoalError(`piece length ${pieceLength} is not a power of two up to 64 MiB`);
  if (imageId) {
    const s = await readSession(store, name, imageId);
    if (s.pieceLength !== pieceLength) throw new ShoalError(`upload ${imageId} has ${s.pieceLength}-byte pieces, not ${pieceLength}`);
    return s;
  }
  const published = await imageVersions(store, name);
  const pending = await Promise.all((await readdir(join(store, UPLOADS)).catch(() => [] as string[]))
    .filter((d) => d.startsWith(`${name}-`) && IMAGE_ID.test(d.slice(name.length + 1)))
    .map(async (d) => (JSON.parse(await readFile(join(store, UPLOADS, d, SESSION_FILE), 'utf8')) as { version: number }).version));
  // A version no published image and no open upload has: two captures of one name do not collide.
  const version = Math.max(0, ...published, ...pending) + 1;
  const session = { name, imageId: randomUUID(), version, pieceLength };
  const dir = dirOf(store, name, session.imageId);
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, SESSION_FILE), JSON.stringify(session));
  return { ...session, received: {} };
}

export async function putPiece(store: string, name: string, imageId: string, file: string, index: number, sha1: string, body: Buffer): Promise<void> {
  const s = await readSession(store, name, imageId);
  if (!PIECE_FILE.test(file)) throw new ShoalError(`"${file}" is not a piece file name`);
  if (!Number.isInteger(index) || index < 0 || index > 10_000_000) throw new ShoalError(`piece index ${index} is out of range`);
  if (body.length !== s.pieceLength) throw new ShoalError(`piece ${file}#${index} has ${body.length} bytes, not ${s.pieceLength}`);
  const got = createHash('sha1').update(body).digest('hex');
  if (got !== sha1) throw new ShoalError(`piece ${file}#${index} arrived damaged: SHA-1 ${got}, sent as ${sha1}`);
  const dir = dirOf(store, name, imageId);
  const fh = await open(join(dir, file), 'a+').then(async (h) => (await h.close(), open(join(dir, file), 'r+')));
  try {
    await fh.write(body, 0, body.length, index * s.pieceLength);
    await fh.datasync();
  } finally {
    await fh.close();
  }
  // Logged only once the bytes are down: a piece in the log is a piece on disk.
  await appendFile(join(dir, LOG_FILE), `${file} ${index} ${sha1}\n`);
  (s.received[file] ??= {})[index] = sha1;
}

/** Publishes a complete upload into the store; returns the published directory. */
export async function publishUpload(store: string, name: string, imageId: string, manifestJson: unknown, torrent: Buffer): Promise<string> {
  const s = await readSession(store, name, imageId);
  const dir = dirOf(store, name, imageId);
  const manifest = parseManifest(manifestJson, `the manifest of upload ${imageId}`);
  if (manifest.name !== name || manifest.imageId !== imageId || manifest.version !== s.version || manifest.pieceLength !== s.pieceLength) {
    throw new ShoalError(`the manifest names ${manifest.name} v${manifest.version} (${manifest.imageId}), not upload ${name} v${s.version} (${imageId})`);
  }
  const t = describeTorrent(torrent);
  const listed = manifest.disks.flatMap((d) => d.areas.flatMap((a) => a.pieces.map((p) => p.sha1)));
  if (t.infoHash !== manifest.infoHash || t.pieceSha1s.length !== listed.length || t.pieceSha1s.some((h, i) => h !== listed[i])) {
    throw new ShoalError('the torrent does not match the manifest');
  }
  // Every piece the manifest lists must have arrived, and still read back as it arrived.
  for (const area of manifest.disks.flatMap((d) => d.areas)) {
    if (!area.pieces.length) continue;
    const file = pieceFileName(area);
    const fh = await open(join(dir, file), 'r+').catch(() => {
      throw new ShoalError(`no piece of ${file} arrived`);
    });
    try {
      await fh.truncate(area.pieces.length * s.pieceLength);
      const buf = Buffer.alloc(s.pieceLength);
      for (const [i, p] of area.pieces.entries()) {
        if (s.received[file]?.[i] !== p.sha1) throw new ShoalError(`piece ${file}#${i} has not arrived`);
        await fh.read(buf, 0, s.pieceLength, i * s.pieceLength);
        if (createHash('sha1').update(buf).digest('hex') !== p.sha1) throw new ShoalError(`piece ${file}#${i} no longer reads back as it arrived`);
      }
    } finally {
      await fh.close();
    }
  }
  const staging = await createStaging(store, name, s.version);
  try {
    for (const area of manifest.disks.flatMap((d) => d.areas)) {
      if (area.pieces.length) await rename(join(dir, pieceFileName(area)), join(staging.dir, pieceFileName(area)));
    }
    await writeManifest(join(staging.dir, MANIFEST_FILE), manifest);
    await writeFile(join(staging.dir, TORRENT_FILE), torrent);
    const published = await staging.publish();
    sessions.delete(dir);
    await rm(dir, { recursive: true, force: true });
    return published;
  } catch (err) {
    await staging.discard();
    throw err;
  }
}

export async function uploadState(store: string, name: string, imageId: string): Promise<UploadSession> {
  return readSession(store, name, imageId);
}
