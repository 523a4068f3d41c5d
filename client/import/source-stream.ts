/**
 * One stored stream of a foreign image: its files (split by FOG into .000, .001…, by Clonezilla
 * into .aa, .ab…) read in order, through the decompressor its first bytes call for. The codec is
 * told by magic numbers, not by names: FOG names every codec's file ".img".
 */
import { spawn } from 'node:child_process';
import { readdir, stat } from 'node:fs/promises';
import { folderFiles, type FolderFiles } from './folder-files.js';
import { basename, dirname, join } from 'node:path';
import type { Writable } from 'node:stream';
import { ShoalError } from '../../shared/errors.js';
import { ByteReader } from './byte-reader.js';
import { PARTCLONE_MAGIC } from './partclone-stream.js';

export type Codec = 'zstd' | 'gzip' | 'bzip2' | 'xz' | 'lz4' | 'none';

const MAGICS: Array<[Codec, Buffer]> = [
  ['zstd', Buffer.from([0x28, 0xb5, 0x2f, 0xfd])],
  ['gzip', Buffer.from([0x1f, 0x8b])],
  ['bzip2', Buffer.from('BZh', 'latin1')],
  ['xz', Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00])],
  ['lz4', Buffer.from([0x04, 0x22, 0x4d, 0x18])],
  ['lz4', Buffer.from([0x02, 0x21, 0x4c, 0x18])], // lz4's legacy frame, what `lz4 -l` and old FOG wrote
];
/** The decompressor each codec is read with, from Debian's packages. */
const DECODERS: Record<Exclude<Codec, 'none'>, [string, string[]]> = {
  zstd: ['zstd', ['-dcq', '--no-progress']],
  gzip: ['pigz', ['-dc']],
  bzip2: ['bzip2', ['-dc']],
  xz: ['xz', ['-dcT0']],
  lz4: ['lz4', ['-dcq']],
};

export interface SourceStream {
  /** The first file's path: what every error names. */
  name: string;
  files: string[];
  /** Bytes of all its files: progress counts these as they are read. */
  storedBytes: number;
}

/**
 * The files of one stream: `base` itself, or `base` + a split suffix run (.000, .001… or .aa,
 * .ab…) with no gap. Undefined when there is none.
 */
export async function findStream(base: string): Promise<SourceStream | undefined> {
  const dir = dirname(base);
  const name = basename(base);
  const entries = await readdir(dir);
  const files: string[] = [];
  const parts = entries.filter((e) => e.startsWith(`${name}.`) && /^(\d{3}|[a-z]{2})$/.test(e.slice(name.length + 1))).sort();
  // FOG renames a finished capture's first part from NAME.000 to NAME: NAME, NAME.001, … is one stream.
  const bare = entries.includes(name);
  if (!bare && !parts.length) return undefined;
  if (bare && parts.some((p) => p.endsWith('.000') || p.endsWith('.aa')))
    throw new ShoalError(`${folderFile(dir, name)}: both it and its first split part are there; keep one`);
  if (bare) files.push(base);
  const suffixes = parts.map((p) => p.slice(name.length + 1));
  const numeric = /^\d+$/.test(suffixes[0] ?? '0');
  suffixes.forEach((s, i) => {
    const k = bare ? i + 1 : i;
    const want = numeric ? String(k).padStart(3, '0') : alphaSuffix(k, 2);
    if (s !== want)
      throw new ShoalError(
        `${folderFile(dir, `${name}.${want}`)} is missing: the parts of ${name} found are ${[...(bare ? [name] : []), ...parts].join(', ')}`,
      );
  });
  files.push(...parts.map((p) => join(dir, p)));
  let storedBytes = 0;
  for (const f of files) storedBytes += (await stat(f)).size;
  return { name: files[0]!, files, storedBytes };
}

const folderFile = (dir: string, name: string): string => join(dir, name);

/** split's alphabetic suffixes: aa, ab, … az, ba, … */
function alphaSuffix(i: number, width: number): string {
  let s = '';
  for (let k = 0; k < width; k++, i = Math.floor(i / 26)) s = String.fromCharCode(97 + (i % 26)) + s;
  return s;
}

export async function detectCodec(file: string, files: FolderFiles = folderFiles()): Promise<Codec> {
  const fh = await files.open(file);
  const head = Buffer.alloc(16);
  try {
    await fh.read(head, 0, 16, 0);
  } finally {
    await fh.close();
  }
  for (const [codec, magic] of MAGICS) if (head.subarray(0, magic.length).equals(magic)) return codec;
  if (head.subarray(0, PARTCLONE_MAGIC.length).toString('latin1') === PARTCLONE_MAGIC) return 'none';
  throw new ShoalError(`${file}: compressed with a codec Shoal cannot read (it reads zstd, gzip, bzip2, xz, lz4 and uncompressed partclone images)`);
}

export interface OpenStream {
  reader: ByteReader;
  codec: Codec;
  /** Resolves when the decompressor has exited well; rejects with its complaint otherwise. */
  finished: Promise<void>;
  /** Stops reading (on an error elsewhere): the decompressor is killed. */
  abort(): void;
}

/** Resolves when a pipe takes more bytes or has closed; the listener left behind is removed, so a long feed adds none. */
function drainedOrClosed(pipe: Writable): Promise<void> {
  return new Promise<void>((resolve) => {
    const done = (): void => {
      pipe.off('drain', done).off('close', done);
      resolve();
    };
    pipe.on('drain', done).on('close', done);
  });
}

/**
 * Opens the stream for reading, decompressed. `onRead` is told of every stored byte read, for
 * progress. `raw`: the files hold a raw stream (Clonezilla's dd-img) whose codec may be 'none'
 * without a partclone header.
 */
export async function openStream(s: SourceStream, onRead: (bytes: number) => void, raw = false, files: FolderFiles = folderFiles()): Promise<OpenStream> {
  let codec: Codec;
  try {
    // Raw bytes Clonezilla says it stored uncompressed are taken as they are, whatever they start with.
    codec = raw && /\.uncomp(\.|$)/.test(s.name) ? 'none' : await detectCodec(s.files[0]!, files);
  } catch (err) {
    if (!raw) throw err;
    codec = 'none';
  }
  async function* storedBytes(): AsyncGenerator<Buffer> {
    for (const f of s.files) {
      for await (const chunk of await files.stream(f, 1 << 20)) {
        onRead((chunk as Buffer).length);
        yield chunk as Buffer;
      }
    }
  }
  if (codec === 'none') {
    const it = storedBytes();
    return { reader: new ByteReader(it, s.name), codec, finished: Promise.resolve(), abort: () => void it.return(undefined) };
  }
  const [cmd, args] = DECODERS[codec];
  const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr = (stderr + d).slice(-2000)));
  const spawned = new Promise<void>((resolve, reject) => {
    child.once('spawn', resolve);
    child.once('error', (err) =>
      reject(new ShoalError(`${s.name}: cannot run ${cmd} to read its ${codec} stream: ${(err as NodeJS.ErrnoException).code ?? err.message}`)),
    );
  });
  await spawned;
  // The stored files are fed in order; a decompressor that stops reading (it failed) ends the feed.
  const feeding = (async () => {
    try {
      for await (const chunk of storedBytes()) {
        if (!child.stdin.write(chunk)) await drainedOrClosed(child.stdin);
        if (child.stdin.destroyed) return;
      }
      child.stdin.end();
    } catch {
      child.stdin.destroy();
    }
  })();
  child.stdin.on('error', () => {}); // EPIPE when the decompressor gave up: its exit code tells why
  const finished = new Promise<void>((resolve, reject) => {
    child.once('close', (code, signal) => {
      void feeding.then(() => {
        if (code === 0) resolve();
        else {
          const why = stderr.trim().split('\n').filter(Boolean).pop() ?? (signal ? `killed by ${signal}` : `exit code ${code}`);
          reject(new ShoalError(`${s.name}: ${cmd} cannot decompress it: ${why.replace(/^[^:]*:\s*/, '')}`));
        }
      });
    });
  });
  finished.catch(() => {}); // awaited by the caller; not an unhandled rejection meanwhile
  return {
    reader: new ByteReader(child.stdout[Symbol.asyncIterator]() as AsyncIterator<Buffer>, s.name),
    codec,
    finished,
    abort: () => {
      child.kill('SIGKILL');
      child.stdin.destroy();
    },
  };
}
