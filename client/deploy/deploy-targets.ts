/**
 * What every network transport does before its first piece, and the record of what is on disk
 * that they share: the torrent checked against the manifest, the targets laid out and checked
 * (every run inside its disk), the old tables wiped, and what a restarted PC's disk already holds
 * (resume). `auto` hands one DeployTargets from the swarm to unicast, so the second transport goes
 * on from the first one's pieces.
 */
import { ShoalError } from '../../shared/errors.js';
import { timedSync } from '../../shared/log.js';
import { torrentPieces, type Manifest } from '../../shared/image/manifest.js';
import { describeTorrent } from '../../shared/image/torrent.js';
import { prepareTargets, wipeTables, type TargetPlan } from './target-disks.js';
import { piecesOnDisk, proofOfPieces, type Rewritten } from './resume.js';
import type { PieceTarget } from './piece-writer.js';

export interface DeployTargets {
  manifest: Manifest;
  plans: TargetPlan[];
  /** Torrent piece index → what it is and where it goes. */
  pieces: PieceTarget[];
  /** The torrent's SHA-1 of each piece, hex. */
  pieceSha1s: string[];
  /** Pieces on disk now: found there at start, or written since by a transport. */
  have: boolean[];
  /** Pieces found on disk at start. */
  held: number;
  piecesWritten: number;
  bytesWritten: number;
  bytesTotal: number;
  /**
   * Records piece `index` as on disk; false when it already was (two transports, or two peers,
   * delivered it), so that it is counted once.
   */
  markWritten(index: number, coveredBytes: number): boolean;
  /** Piece `index` turned out not to be on disk after all (a read-back check failed). */
  markMissing(index: number, coveredBytes: number): void;
  /** Reads every piece back from the disks now: which are there (as resume checks them). */
  readBack(): boolean[];
  /** The answer to the portal's challenge over `indices` (resume.ts proofOfPieces). */
  prove(nonce: string, indices: number[]): string;
  /** What is on disk, as every transport's stats tell it. */
  diskStats(): { piecesWritten: number; piecesTotal: number; piecesHeld: number; bytesWritten: number; bytesTotal: number };
}

export const coveredBytes = (p: PieceTarget): number => p.ref.entry.runs.reduce((s, r) => s + r[1], 0);

export async function prepareDeployTargets(manifest: Manifest, torrent: Buffer, disks: string[], opts: { resume?: boolean } = {}): Promise<DeployTargets> {
  const m = manifest;
  const described = describeTorrent(torrent);
  const listed = [...torrentPieces(m)];
  if (described.infoHash !== m.infoHash || described.pieceSha1s.some((h, i) => h !== listed[i]?.piece.sha1) || described.pieceSha1s.length !== listed.length) {
    throw new ShoalError(`the torrent does not belong to image ${m.name} v${m.version}`);
  }
  const plans = await prepareTargets(m, disks);
  const pieces: PieceTarget[] = listed.map(({ disk, area, index, piece }) => {
    const plan = plans[disk.index]!;
    const place = plan.placements.find((p) => p.area.id === area.id)!.placement;
    return { ref: { imageId: m.imageId, index, entry: piece }, place, diskPath: plan.target.path, diskBytes: plan.target.sizeBytes };
  });
  await wipeTables(plans);
  // A PC restarted mid-deploy: what its disk already holds is not fetched again.
  const rewritten = rewrittenAfterPieces(plans);
  const readBack = (): boolean[] => piecesOnDisk(pieces, rewritten);
  const have = opts.resume === false ? pieces.map(() => false) : timedSync('read back what the disk holds', readBack, { pieces: pieces.length });
  const held = have.filter(Boolean).length;
  const targets: DeployTargets = {
    manifest: m,
    plans,
    pieces,
    pieceSha1s: described.pieceSha1s,
    have,
    held,
    piecesWritten: held,
    bytesWritten: pieces.reduce((n, p, i) => n + (have[i] ? coveredBytes(p) : 0), 0),
    bytesTotal: pieces.reduce((n, p) => n + coveredBytes(p), 0),
    diskStats: () => ({
      piecesWritten: targets.piecesWritten,
      piecesTotal: pieces.length,
      piecesHeld: held,
      bytesWritten: targets.bytesWritten,
      bytesTotal: targets.bytesTotal,
    }),
    markWritten(index, covered) {
      if (have[index]) return false;
      have[index] = true;
      targets.piecesWritten++;
      targets.bytesWritten += covered;
      return true;
    },
    markMissing(index, covered) {
      if (!have[index]) return;
      have[index] = false;
      targets.piecesWritten--;
      targets.bytesWritten -= covered;
    },
    readBack,
    prove: (nonce, indices) => proofOfPieces(pieces, indices, nonce, rewritten),
  };
  return targets;
}

/** NTFS boot sector: where its "hidden sectors" field sits, which finishTargets sets to the partition's start. */
const NTFS_HIDDEN_SECTORS_AT = 0x1c;

/**
 * What finishTargets rewrites after the pieces, and what the image may hold there: the hidden
 * sectors of each NTFS boot sector (the primary, and the backups at the source's and the target's
 * partition end), which a capture took as the source had it: its partition's start, or 0 as mkntfs
 * on a bare device writes.
 */
function rewrittenAfterPieces(plans: TargetPlan[]): Rewritten[] {
  return plans.flatMap((plan) =>
    plan.layout
      .filter((p) => p.filesystem === 'ntfs')
      .flatMap((p) => {
        const sectors = (bytes: number): Buffer => {
          const b = Buffer.alloc(4);
          b.writeUInt32LE(Math.min(bytes / plan.disk.logicalSectorBytes, 0xffffffff));
          return b;
        };
        const imageValues = [sectors(p.sourceStartBytes), sectors(0)];
        const source = plan.disk.partitions.find((q) => q.number === p.number);
        const sectorsAt = new Set([0, ...(source ? [source.sizeBytes - 512] : []), p.sizeBytes - 512]);
        return [...sectorsAt].map((at) => ({ diskPath: plan.target.path, diskOffset: p.startBytes + at + NTFS_HIDDEN_SECTORS_AT, imageValues }));
      }),
  );
}
