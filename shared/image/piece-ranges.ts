/**
 * Where a torrent piece lies in the torrent's files, and so which HTTP Range requests fetch it from
 * a web seed (BEP 19): a multi-file torrent named "vN" at `${base}` is `${base}vN/<file>`, the
 * store's own layout, so the unicast transport and the swarm's web seeds read the same URLs.
 * Shoal's pieces never span two files (each area's file is whole pieces), but the mapping does
 * not rely on it: it follows the torrent.
 */
import bencode from 'bencode';
import { ShoalError } from '../errors.js';

export interface TorrentLayout {
  name: string;
  pieceLength: number;
  pieceCount: number;
  /** In torrent order; `offset` is where the file starts in the torrent's concatenation. */
  files: Array<{ path: string; length: number; offset: number }>;
}

/** A byte range [start, end] (inclusive, as in a Range header) of one file. */
export interface FileRange {
  path: string;
  start: number;
  end: number;
}

const text = (v: unknown): string => (v instanceof Uint8Array ? Buffer.from(v).toString('utf8') : String(v));

export function torrentLayout(torrent: Buffer): TorrentLayout {
  const info = (bencode.decode(torrent) as { info?: Record<string, unknown> }).info;
  if (!info) throw new ShoalError('torrent has no info dictionary');
  const pieceLength = Number(info['piece length']);
  const pieces = info.pieces as Uint8Array | undefined;
  if (!Number.isSafeInteger(pieceLength) || pieceLength <= 0 || !pieces || pieces.length % 20)
    throw new ShoalError('torrent has no valid piece length or piece hashes');
  const name = text(info.name);
  const listed = info.files as Array<{ length: number; path: Uint8Array[] }> | undefined;
  const raw = listed ? listed.map((f) => ({ path: f.path.map(text).join('/'), length: Number(f.length) })) : [{ path: '', length: Number(info.length) }];
  let offset = 0;
  const files = raw.map((f) => {
    if (!Number.isSafeInteger(f.length) || f.length < 0) throw new ShoalError(`torrent file ${f.path || name} has no valid length`);
    if (f.path.split('/').some((part) => part === '..' || part === '.')) throw new ShoalError(`torrent file path ${f.path} is not plain`);
    const at = { ...f, offset };
    offset += f.length;
    return at;
  });
  const pieceCount = pieces.length / 20;
  if (Math.ceil(offset / pieceLength) !== pieceCount)
    throw new ShoalError(`torrent lists ${pieceCount} pieces for ${offset} bytes of ${pieceLength}-byte pieces`);
  return { name, pieceLength, pieceCount, files };
}

/** The file ranges piece `index` is made of, in order (the last piece may be short). */
export function pieceRanges(layout: TorrentLayout, index: number): FileRange[] {
  if (!Number.isInteger(index) || index < 0 || index >= layout.pieceCount)
    throw new ShoalError(`piece ${index} is not in the torrent (${layout.pieceCount} pieces)`);
  const from = index * layout.pieceLength;
  const to = from + layout.pieceLength; // exclusive
  const out: FileRange[] = [];
  for (const f of layout.files) {
    const start = Math.max(from, f.offset);
    const end = Math.min(to, f.offset + f.length);
    if (end > start) out.push({ path: f.path, start: start - f.offset, end: end - f.offset - 1 });
  }
  return out;
}

/** The URL of a torrent file at web seed `base` (BEP 19: the base, then the torrent's name and path for multi-file). */
export function webSeedFileUrl(base: string, layout: TorrentLayout, path: string): string {
  if (!path) return base.endsWith('/') ? `${base}${encodeURIComponent(layout.name)}` : base;
  const slashed = base.endsWith('/') ? base : `${base}/`;
  return `${slashed}${[layout.name, ...path.split('/')].map(encodeURIComponent).join('/')}`;
}
