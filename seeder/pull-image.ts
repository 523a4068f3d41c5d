/**
 * A storage node pulls an image version from another Shoal site: from that site's seeder over
 * HTTP, with the read key that site issued (seeder/site-keys.ts there). The manifest and torrent
 * come first and must agree (infohash, pieces, files); then every piece, by HTTP ranges
 * (shared/image/piece-ranges.ts), is checked against the torrent's SHA-1 before it is written,
 * a few pieces at a time. A piece that fails its hash or whose read fails is asked again a bounded
 * number of times, then the pull fails naming it. The pieces gather under STORE/.pulls/INFOHASH/,
 * which a later pull of the same version resumes (each logged piece re-hashed first); only when
 * every piece is in are they moved into staging and published (store.ts), as the local image name
 * and the version the portal assigned. The torrent is named after the version ("vN": the store's
 * layout, seed-store.ts), so it keeps the source's infohash when the local version number is the
 * source's, and gets another (same pieces, same checksum) when it is not.
 */
import { createHash } from 'node:crypto';
import { appendFile, mkdir, open, readFile, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import bencode from 'bencode';
import { ShoalError } from '../shared/errors.js';
import { MANIFEST_FILE, TORRENT_FILE, parseManifest, pieceFileName, writeManifest, type Manifest } from '../shared/image/manifest.js';
import { pieceRanges, torrentLayout, webSeedFileUrl, type TorrentLayout } from '../shared/image/piece-ranges.js';
import { createStaging } from '../shared/image/store.js';
import { describeTorrent, imageChecksum } from '../shared/image/torrent.js';
import { SourceVersionsSchema, type PullSource } from '../shared/http/node-jobs.js';
import { withoutKey } from '../shared/keys/swarm-key.js';
import { logger } from '../shared/log.js';

const log = logger('seeder');
const PULLS = '.pulls';
const LOG_FILE = 'pieces.log';
const REQUEST_TIMEOUT_MS = 60_000;
export const PIECE_TRIES = 3;
const AT_ONCE = 4;

export interface PullOptions {
  store: string;
  source: PullSource;
  /** The local image name and the version the portal assigned. */
  image: string;
  version: number;
  signal: AbortSignal;
  onProgress(doneBytes: number, totalBytes: number): void;
  /** Told the infohash the version will have before any piece is fetched; may throw to stop the pull. */
  beforePieces?(infoHash: string): Promise<void>;
  /** Pause between tries of a piece (ms × the try's number). */
  retryPauseMs?: number;
}

// One pull of a version at a time on a node: two would write the same partial files.
const pulling = new Set<string>();

/** How long a failed pull's pieces wait under STORE/.pulls/ for a pull of the same version to resume them. */
export const PULL_KEEP_MS = 7 * 24 * 3600_000;

/**
 * Drops the pieces of pulls that failed and were not tried again for `keepMs` (nothing written
 * to them since): a site that gave up on a version would otherwise keep its pieces for ever.
 * A pull under way is left alone. Returns the infohashes dropped.
 */
export async function sweepStalePulls(store: string, now = Date.now(), keepMs = PULL_KEEP_MS): Promise<string[]> {
  const root = join(store, PULLS);
  const dropped: string[] = [];
  for (const name of await readdir(root).catch(() => [] as string[])) {
    if (pulling.has(name)) continue;
    const dir = join(root, name);
    // The last write anywhere in it: a piece written, a file made.
    let last = (await stat(dir)).mtimeMs;
    for (const f of await readdir(dir, { recursive: true })) last = Math.max(last, (await stat(join(dir, f))).mtimeMs);
    // Again: a pull of it may have begun while its files were looked at.
    if (now - last < keepMs || pulling.has(name)) continue;
    await rm(dir, { recursive: true, force: true });
    dropped.push(name);
  }
  return dropped;
}

/** A refusal or failure of the source, in words the admin can act on (the key never shown). */
async function sourceError(url: string, res: Response): Promise<ShoalError> {
  const text = await res.text().catch(() => '');
  let said = text.slice(0, 300);
  try {
    said = (JSON.parse(text) as { error?: string }).error ?? said;
  } catch {
    /* not JSON */
  }
  const where = withoutKey(url);
  if (res.status === 401 || res.status === 403) return new ShoalError(`the source refused the key (HTTP ${res.status}) at ${where}: ${said}`);
  return new ShoalError(`the source answered HTTP ${res.status} at ${where}: ${said}`);
}

async function fetchSource(url: string, signal: AbortSignal, headers: Record<string, string> = {}): Promise<Response> {
  try {
    return await fetch(url, { headers, signal: AbortSignal.any([signal, AbortSignal.timeout(REQUEST_TIMEOUT_MS)]) });
  } catch (err) {
    if (signal.aborted) throw signal.reason instanceof Error ? signal.reason : new ShoalError('stopped');
    const e = err as Error;
    throw new ShoalError(`cannot reach the source at ${withoutKey(url)}: ${e.cause ? (e.cause as Error).message : e.message}`);
  }
}

async function fetchOk(url: string, signal: AbortSignal): Promise<Buffer> {
  const res = await fetchSource(url, signal);
  if (!res.ok) throw await sourceError(url, res);
  return Buffer.from(await res.arrayBuffer());
}

/** Torrent and manifest describe the same pieces in the same files (as an upload's publish checks). */
function checkAgree(m: Manifest, torrent: Buffer, layout: TorrentLayout, what: string): string {
  const t = describeTorrent(torrent);
  const listed = m.disks.flatMap((d) => d.areas.flatMap((a) => a.pieces.map((p) => p.sha1)));
  const files = m.disks.flatMap((d) =>
    d.areas.filter((a) => a.pieces.length).map((a) => ({ path: pieceFileName(a), length: a.pieces.length * m.pieceLength })),
  );
  const problem =
    t.infoHash !== m.infoHash
      ? `the torrent's infohash ${t.infoHash} is not the manifest's ${m.infoHash}`
      : layout.pieceLength !== m.pieceLength
        ? `the torrent's piece length ${layout.pieceLength} is not the manifest's ${m.pieceLength}`
        : t.pieceSha1s.length !== listed.length || t.pieceSha1s.some((h, i) => h !== listed[i])
          ? "the torrent's pieces are not the manifest's"
          : layout.files.length !== files.length || layout.files.some((f, i) => f.path !== files[i]!.path || f.length !== files[i]!.length)
            ? "the torrent's files are not the manifest's areas"
            : layout.name !== `v${m.version}`
              ? `the torrent is named ${layout.name}, not v${m.version}`
              : imageChecksum(t.pieceSha1s) !== m.checksum
                ? "the manifest's checksum is not that of its pieces"
                : undefined;
  if (problem) throw new ShoalError(`${what}: manifest and torrent disagree: ${problem}`);
  return t.infoHash;
}

/** The torrent as the local version's: its name "vN" changed, everything else as it came (as it came for the same number). */
function localTorrent(torrent: Buffer, sourceVersion: number, version: number): Buffer {
  if (sourceVersion === version) return torrent;
  const decoded = bencode.decode(torrent) as { info: Record<string, unknown> };
  decoded.info.name = Buffer.from(`v${version}`);
  return Buffer.from(bencode.encode(decoded));
}

export async function pullImage(o: PullOptions): Promise<{ dir: string; infoHash: string; sourceInfoHash: string }> {
  const { source } = o;
  const imageUrl = `${source.url.replace(/\/+$/, '')}/k/${encodeURIComponent(source.key)}/images/${encodeURIComponent(source.image)}`;
  let version = source.version;
  let listedHash: string | undefined;
  if (!version) {
    const body = (await fetchOk(imageUrl, o.signal)).toString('utf8');
    let listed: unknown;
    try {
      listed = JSON.parse(body);
    } catch {
      throw new ShoalError(`the source's list of ${source.image}'s versions is not JSON (is ${source.url} a Shoal storage node?)`);
    }
    const parsed = SourceVersionsSchema.safeParse(listed);
    if (!parsed.success || !parsed.data.versions.length) throw new ShoalError(`the source lists no version of ${source.image} this key opens`);
    const newest = parsed.data.versions.reduce((a, b) => (b.version > a.version ? b : a));
    version = newest.version;
    listedHash = newest.infoHash;
  }
  const what = `${source.image} v${version} from ${source.url}`;
  const base = `${imageUrl}/`;
  const [manifestBuf, torrent] = [
    await fetchOk(`${base}v${version}/${MANIFEST_FILE}`, o.signal),
    await fetchOk(`${base}v${version}/${TORRENT_FILE}`, o.signal),
  ];
  let json: unknown;
  try {
    json = JSON.parse(manifestBuf.toString('utf8'));
  } catch {
    throw new ShoalError(`the source's manifest of ${what} is not JSON`);
  }
  const manifest = parseManifest(json, `the source's manifest of ${what}`);
  if (manifest.name !== source.image || manifest.version !== version)
    throw new ShoalError(`the source's manifest of ${what} names ${manifest.name} v${manifest.version}`);
  let layout: TorrentLayout;
  try {
    layout = torrentLayout(torrent);
  } catch (err) {
    throw new ShoalError(`the source's torrent of ${what}: ${(err as Error).message}`);
  }
  const sourceInfoHash = checkAgree(manifest, torrent, layout, `the source's ${what}`);
  if (listedHash && listedHash !== sourceInfoHash) throw new ShoalError(`the source listed ${what} as ${listedHash} but its files say ${sourceInfoHash}`);
  if (pulling.has(sourceInfoHash)) throw new ShoalError(`${what} is being pulled on this node already`);
  // Taken before the portal is asked: two pulls of one version must not share .pulls/INFOHASH.
  pulling.add(sourceInfoHash);
  try {
    await o.beforePieces?.(describeTorrent(localTorrent(torrent, manifest.version, o.version)).infoHash);
    return { ...(await pullPieces(o, { manifest, torrent, layout, base, what, sourceInfoHash })), sourceInfoHash };
  } catch (err) {
    // Cancelled: nothing kept to resume. Failed: the pieces in stay for the next pull of it.
    if (o.signal.aborted) await rm(join(o.store, PULLS, sourceInfoHash), { recursive: true, force: true });
    throw err;
  } finally {
    pulling.delete(sourceInfoHash);
  }
}

async function pullPieces(
  o: PullOptions,
  s: { manifest: Manifest; torrent: Buffer; layout: TorrentLayout; base: string; what: string; sourceInfoHash: string },
): Promise<{ dir: string; infoHash: string }> {
  const { layout } = s;
  const sha1s = describeTorrent(s.torrent).pieceSha1s;
  const partial = join(o.store, PULLS, s.sourceInfoHash);
  await mkdir(partial, { recursive: true });
  const files = new Map<string, Awaited<ReturnType<typeof open>>>();
  const total = layout.files.reduce((n, f) => n + f.length, 0);
  let done = 0;
  const pieceBytes = (i: number): number => pieceRanges(layout, i).reduce((n, r) => n + r.end - r.start + 1, 0);
  const sha1 = (b: Buffer): string => createHash('sha1').update(b).digest('hex');
  /** Where a piece lies, in words: "piece 7 (d0p1.pieces #3)". */
  const named = (i: number): string => {
    const r = pieceRanges(layout, i)[0]!;
    return `piece ${i} (${r.path} #${Math.floor(r.start / layout.pieceLength)})`;
  };
  try {
    for (const f of layout.files) {
      const path = join(partial, f.path);
      await mkdir(dirname(path), { recursive: true });
      const fh = await open(path, 'a+').then(async (h) => (await h.close(), open(path, 'r+')));
      await fh.truncate(f.length);
      files.set(f.path, fh);
    }
    const read = async (i: number): Promise<Buffer> =>
      Buffer.concat(
        await Promise.all(
          pieceRanges(layout, i).map(async (r) => {
            const b = Buffer.alloc(r.end - r.start + 1);
            await files.get(r.path)!.read(b, 0, b.length, r.start);
            return b;
          }),
        ),
      );
    // Resume: what an earlier pull logged is taken when it still reads back as the torrent says.
    const have = new Set<number>();
    const logged = (await readFile(join(partial, LOG_FILE), 'utf8').catch(() => '')).split('\n').filter(Boolean).map(Number);
    for (const i of new Set(logged)) {
      if (Number.isInteger(i) && i >= 0 && i < layout.pieceCount && sha1(await read(i)) === sha1s[i]) {
        have.add(i);
        done += pieceBytes(i);
      }
    }
    if (have.size) log.info({ image: o.image, version: o.version, pieces: have.size, of: layout.pieceCount }, 'pull resumed');
    o.onProgress(done, total);

    const fetchPiece = async (i: number): Promise<Buffer> => {
      let last = '';
      for (let attempt = 1; attempt <= PIECE_TRIES; attempt++) {
        if (attempt > 1) await new Promise((r) => setTimeout(r, (o.retryPauseMs ?? 500) * (attempt - 1)));
        if (o.signal.aborted) throw o.signal.reason instanceof Error ? o.signal.reason : new ShoalError('stopped');
        try {
          const parts: Buffer[] = [];
          for (const r of pieceRanges(layout, i)) {
            const url = webSeedFileUrl(s.base, layout, r.path);
            const res = await fetchSource(url, o.signal, { range: `bytes=${r.start}-${r.end}` });
            // A refused key is not asked again: it will not be taken the next time either.
            if (res.status === 401 || res.status === 403) throw Object.assign(await sourceError(url, res), { final: true });
            if (res.status !== 206) throw await sourceError(url, res);
            const b = Buffer.from(await res.arrayBuffer());
            if (b.length !== r.end - r.start + 1) throw new ShoalError(`the source sent ${b.length} bytes of ${withoutKey(url)} for ${r.end - r.start + 1}`);
            parts.push(b);
          }
          const data = Buffer.concat(parts);
          const got = sha1(data);
          if (got === sha1s[i]) return data;
          last = `${named(i)} of ${s.what} fails its SHA-1 (${got}, the torrent says ${sha1s[i]})`;
        } catch (err) {
          if ((err as { final?: boolean }).final || o.signal.aborted) throw err;
          last = `${named(i)} of ${s.what}: ${(err as Error).message}`;
        }
        log.warn({ image: o.image, piece: i, attempt, why: last }, 'piece from the source refused; asking again');
      }
      throw new ShoalError(`${last} (${PIECE_TRIES} tries)`);
    };
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < layout.pieceCount) {
        const i = next++;
        if (have.has(i)) continue;
        const data = await fetchPiece(i);
        let at = 0;
        for (const r of pieceRanges(layout, i)) {
          const len = r.end - r.start + 1;
          await files.get(r.path)!.write(data, at, len, r.start);
          at += len;
        }
        // Logged once written; a resume re-hashes it anyway (a write cut off by a crash).
        await appendFile(join(partial, LOG_FILE), `${i}\n`);
        done += data.length;
        o.onProgress(done, total);
      }
    };
    // The first failure stops the others (they finish the piece in hand) and is what is said.
    const stop = new AbortController();
    const workers = Array.from({ length: Math.min(AT_ONCE, layout.pieceCount) }, () =>
      worker().catch((err: unknown) => {
        next = layout.pieceCount;
        stop.abort(err);
        throw err;
      }),
    );
    const results = await Promise.allSettled(workers);
    if (stop.signal.aborted) throw stop.signal.reason;
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
  } finally {
    for (const fh of files.values()) await fh.close().catch(() => {});
  }
  if (o.signal.aborted) throw o.signal.reason instanceof Error ? o.signal.reason : new ShoalError('stopped');

  // Every piece is in: published as the local name and version, by one rename.
  const torrent = localTorrent(s.torrent, s.manifest.version, o.version);
  const infoHash = describeTorrent(torrent).infoHash;
  const manifest: Manifest = { ...s.manifest, name: o.image, version: o.version, infoHash };
  const staging = await createStaging(o.store, o.image, o.version);
  let dir: string;
  try {
    for (const f of layout.files) await rename(join(partial, f.path), join(staging.dir, f.path));
    await writeManifest(join(staging.dir, MANIFEST_FILE), manifest);
    await writeFile(join(staging.dir, TORRENT_FILE), torrent);
    dir = await staging.publish();
  } catch (err) {
    await staging.discard();
    throw err;
  }
  await rm(partial, { recursive: true, force: true });
  log.info({ image: o.image, version: o.version, from: s.what, infoHash }, 'pulled');
  return { dir, infoHash };
}
