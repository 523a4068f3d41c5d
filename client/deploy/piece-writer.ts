/**
 * The piece writer every network transport shares (swarm through DiskPieceStore, unicast
 * directly): a piece's bytes are checked against the manifest, decompressed and written to its
 * runs on the target disk by applyPiece, which refuses any run that would leave the disk.
 */
import { closeSync, openSync } from 'node:fs';
import { fdWriter } from '../disk/disk-writer.js';
import { applyPiece, type AreaPlacement, type PieceRef } from '../../shared/image/piece-map.js';

export interface PieceTarget {
  ref: PieceRef;
  place: AreaPlacement;
  diskPath: string;
  diskBytes: number;
}

export class PieceWriter {
  private readonly fds = new Map<string, number>();
  private closed = false;

  constructor(private readonly pieces: readonly PieceTarget[]) {}

  /** An open descriptor of a target disk, kept until close(): pieces come by the thousand. */
  fd(path: string): number {
    if (this.closed) throw new Error(`the piece writer of ${path} is closed`);
    let fd = this.fds.get(path);
    if (fd === undefined) {
      fd = openSync(path, 'r+');
      this.fds.set(path, fd);
    }
    return fd;
  }

  /**
   * Writes torrent piece `index`; returns the disk bytes its runs cover. `sha1Checked`: the bytes
   * were checked against the piece's SHA-1 in the torrent, which deploy-targets.ts matched to the manifest.
   */
  write(index: number, bytes: Buffer, opts: { sha1Checked?: boolean } = {}): number {
    const target = this.pieces[index];
    if (!target) throw new Error(`piece ${index} is not in the image`);
    const write = fdWriter(this.fd(target.diskPath));
    let covered = 0;
    applyPiece(
      bytes,
      target.ref,
      target.place,
      target.diskBytes,
      (at, length, chunk) => {
        covered += length;
        write(at, length, chunk);
      },
      opts,
    );
    return covered;
  }

  close(): void {
    this.closed = true;
    for (const fd of this.fds.values()) closeSync(fd);
    this.fds.clear();
  }
}
