/**
 * Where a PC keeps the compressed pieces it passes on: in blocks of the target disk that nothing
 * of the image covers (DESIGN.md, "Straight to disk"). Free means: inside a partition the image
 * writes to, and covered by no run of any piece of that partition, with a margin at each end of
 * the partition (superblocks, NTFS's backup boot sector). The partition table, the gap before the
 * first partition, swap and extended partitions and a raw image's disk are never used. What the
 * end of a deploy writes there (growing a filesystem, its backup boot sector) is written only after
 * the PC has stopped seeding (swarm-deploy.ts: finish), so the stash is never read after that.
 * The stash is sized up front: pieces of this PC's share first, then the others in order, as many
 * as fit; the rest go to the bounded memory cache.
 */
import type { PieceTarget } from './piece-writer.js';
import { MIB } from '../../shared/units.js';

/** Where on which disk a stashed piece's bytes lie, in order. */
export interface StashSlot {
  diskPath: string;
  extents: Array<[offset: number, length: number]>;
}

const MARGIN_BYTES = 1 * MIB;
const ALIGN = 4096;
const alignUp = (n: number) => Math.ceil(n / ALIGN) * ALIGN;
const alignDown = (n: number) => Math.floor(n / ALIGN) * ALIGN;

/** Free [offset, length] ranges on each target disk (absolute offsets), by disk path. */
export function freeExtents(pieces: PieceTarget[]): Map<string, Array<[number, number]>> {
  const byArea = new Map<string, { diskPath: string; start: number; size: number; used: Array<[number, number]> }>();
  for (const p of pieces) {
    if (!/p[0-9]+$/.test(p.place.areaId)) continue; // partitions only
    let a = byArea.get(`${p.diskPath}\0${p.place.areaId}`);
    if (!a) byArea.set(`${p.diskPath}\0${p.place.areaId}`, (a = { diskPath: p.diskPath, start: p.place.diskOffset, size: p.place.limitBytes, used: [] }));
    for (const [off, len] of p.ref.entry.runs) a.used.push([off, len]);
  }
  const out = new Map<string, Array<[number, number]>>();
  for (const a of byArea.values()) {
    a.used.sort((x, y) => x[0] - y[0]);
    let at = MARGIN_BYTES;
    const end = a.size - MARGIN_BYTES;
    const list = out.get(a.diskPath) ?? [];
    const add = (from: number, to: number) => {
      const f = alignUp(from);
      const t = alignDown(Math.min(to, end));
      if (t - f >= ALIGN) list.push([a.start + f, t - f]);
    };
    for (const [off, len] of a.used) {
      if (off > at) add(at, off);
      at = Math.max(at, off + len);
    }
    if (end > at) add(at, end);
    out.set(a.diskPath, list);
  }
  return out;
}

/** Gives as many pieces as fit a slot of `pieceLength` bytes, `first` ones before the others. */
export function planStash(pieces: PieceTarget[], pieceLength: number, first: (index: number) => boolean = () => false): Map<number, StashSlot> {
  const free = freeExtents(pieces);
  const cursors = new Map([...free].map(([path, list]) => [path, { list, i: 0, used: 0 }]));
  const order = pieces.map((_, i) => i).sort((x, y) => Number(first(y)) - Number(first(x)) || x - y);
  const slots = new Map<number, StashSlot>();
  for (const index of order) {
    const c = cursors.get(pieces[index]!.diskPath);
    if (!c) continue;
    // Enough left on this disk?
    let left = 0;
    for (let j = c.i; j < c.list.length && left < pieceLength; j++) left += c.list[j]![1] - (j === c.i ? c.used : 0);
    if (left < pieceLength) continue;
    const extents: Array<[number, number]> = [];
    let need = pieceLength;
    while (need > 0) {
      const [off, len] = c.list[c.i]!;
      const take = Math.min(need, len - c.used);
      extents.push([off + c.used, take]);
      need -= take;
      c.used += take;
      if (c.used === len) {
        c.i++;
        c.used = 0;
      }
    }
    slots.set(index, { diskPath: pieces[index]!.diskPath, extents });
  }
  return slots;
}
