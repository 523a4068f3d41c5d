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
import { assertImageName } from '../shared/image/image-name.js';
import bencode from 'bencode';
import {
  MANIFEST_FILE,
  MAX_PIECE_LENGTH_BYTES,
  PIECE_LENGTH_RULE,
  TORRENT_FILE,
  isPieceLength,
  parseManifest,
  pieceFileName,
  writeManifest,
  type Manifest,
} from '../shared/image/manifest.js';
import { createStaging, imageVersions } from '../shared/image/store.js';
import { describeTorrent } from '../shared/image/torrent.js';

const UPLOADS = '.uploads';
const SESSION_FILE = 'session.json';
const LOG_FILE = 'pieces.log';
const IMAGE_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const PIECE_FILE = /^d[0-9]+(p[0-9]+|head|raw)\.pieces$/;
export const MAX_PIECE_BYTES = MAX_PIECE_LENGTH_BYTES;

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

/** The version an open upload was opened for (its key must be for that version). */
export async function uploadVersion(store: string, name: string, imageId: string): Promise<number> {
  return (await readSession(store, name, imageId)).version;
}

// One operation at a time per upload (a piece, a publish), and one opening at a time per store.
const locks = new Map<string, Promise<unknown>>();
function locked<T>(key: string, fn: () => Promise<T>): Promise<T> {
  const run = (locks.get(key) ?? Promise.resolve()).catch(() => {}).then(fn);
  locks.set(key, run);
  void run.finally(() => locks.get(key) === run && locks.delete(key)).catch(() => {});
  return run;
}

/** The versions open uploads of NAME hold; an unreadable leftover (a node killed mid-open) holds none. */
async function pendingVersions(store: string, name: string): Promise<number[]> {
  const dirs = (await readdir(join(store, UPLOADS)).catch(() => [] as string[])).filter(
    (d) => d.startsWith(`${name}-`) && IMAGE_ID.test(d.slice(name.length + 1)),
  );
  const versions = await Promise.all(
    dirs.map(async (d) => {
      try {
        return [(JSON.parse(await readFile(join(store, UPLOADS, d, SESSION_FILE), 'utf8')) as { version: number }).version];
      } catch {
        return [];
      }
    }),
  );
  return versions.flat();
}

/**
 * Opens an upload: the one given, to resume it, or a new one — for the version the portal
 * assigned (so that two nodes never publish different images under one name and version), or
 * else the next version free in this store.
 */
export async function openUpload(store: string, name: string, pieceLength: number, imageId?: string, version?: number): Promise<UploadSession> {
  assertImageName(name);
  // The same rule as the manifest's: a piece length it would refuse at publish is refused here, before any piece is sent.
  if (!isPieceLength(pieceLength)) throw new ShoalError(`piece length ${pieceLength} is not ${PIECE_LENGTH_RULE}`);
  if (version !== undefined && (!Number.isInteger(version) || version < 1)) throw new ShoalError(`version ${version} is not a positive integer`);
  if (imageId) {
    const s = await readSession(store, name, imageId);
    if (s.pieceLength !== pieceLength) throw new ShoalError(`upload ${imageId} has ${s.pieceLength}-byte pieces, not ${pieceLength}`);
    return s;
  }
  return locked(`open:${store}`, async () => {
    const taken = [...(await imageVersions(store, name)), ...(await pendingVersions(store, name))];
    if (version !== undefined && taken.includes(version)) throw new ShoalError(`${name} v${version} is already in this store or being uploaded`);
    const session = { name, imageId: randomUUID(), version: version ?? Math.max(0, ...taken) + 1, pieceLength };
    const dir = dirOf(store, name, session.imageId);
    await mkdir(dir, { recursive: true });
    // Written whole or not at all: a node killed here leaves a directory without a session, which
    // holds no version and is not an upload.
    await writeFile(join(dir, `${SESSION_FILE}.tmp`), JSON.stringify(session));
    await rename(join(dir, `${SESSION_FILE}.tmp`), join(dir, SESSION_FILE));
    return { ...session, received: {} };
  });
}

export async function putPiece(store: string, name: string, imageId: string, file: string, index: number, sha1: string, body: Buffer): Promise<void> {
  return locked(dirOf(store, name, imageId), () => putPieceNow(store, name, imageId, file, index, sha1, body));
}

async function putPieceNow(store: string, name: string, imageId: string, file: string, index: number, sha1: string, body: Buffer): Promise<void> {
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

/**
 * Publishes a complete upload into the store; returns the published directory. Asked again (a PC
 * whose first request timed out while the node re-read a large image), it answers the same.
 */
export async function publishUpload(store: string, name: string, imageId: string, manifestJson: unknown, torrent: Buffer): Promise<string> {
  return locked(dirOf(store, name, imageId), async () => {
    const manifest = parseManifest(manifestJson, `the manifest of upload ${imageId}`);
    const done = join(store, name, `v${manifest.version}`);
    try {
      const there = parseManifest(JSON.parse(await readFile(join(done, MANIFEST_FILE), 'utf8')), done);
      if (there.imageId === imageId) return done;
    } catch {
      /* not published yet */
    }
    return publishNow(store, name, imageId, manifest, torrent);
  });
}

async function publishNow(store: string, name: string, imageId: string, manifest: Manifest, torrent: Buffer): Promise<string> {
  const s = await readSession(store, name, imageId);
  const dir = dirOf(store, name, imageId);
  if (manifest.name !== name || manifest.imageId !== imageId || manifest.version !== s.version || manifest.pieceLength !== s.pieceLength) {
    throw new ShoalError(`the manifest names ${manifest.name} v${manifest.version} (${manifest.imageId}), not upload ${name} v${s.version} (${imageId})`);
  }
  let t: ReturnType<typeof describeTorrent>;
  let info: { name?: Uint8Array; 'piece length'?: number; files?: Array<{ length: number; path: Uint8Array[] }> };
  try {
    t = describeTorrent(torrent);
    info = (bencode.decode(torrent) as { info: typeof info }).info;
  } catch (err) {
    throw new ShoalError(`the torrent is not one: ${(err as Error).message}`);
  }
  const listed = manifest.disks.flatMap((d) => d.areas.flatMap((a) => a.pieces.map((p) => p.sha1)));
  const files = manifest.disks.flatMap((d) =>
    d.areas.filter((a) => a.pieces.length).map((a) => ({ name: pieceFileName(a), length: a.pieces.length * s.pieceLength })),
  );
  const sameFiles =
    info.files?.length === files.length &&
    info.files.every((f, i) => f.length === files[i]!.length && Buffer.from(f.path[0] ?? []).toString() === files[i]!.name);
  if (
    t.infoHash !== manifest.infoHash ||
    t.pieceSha1s.length !== listed.length ||
    t.pieceSha1s.some((h, i) => h !== listed[i]) ||
    Buffer.from(info.name ?? []).toString() !== `v${s.version}` ||
    info['piece length'] !== s.pieceLength ||
    !sameFiles
  ) {
    throw new ShoalError('the torrent does not match the manifest (infohash, pieces, name, piece length or files)');
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
