import { writeSync } from 'node:fs';
import type { DiskWriter } from '../../shared/image/piece-map.js';
import { MIB } from '../../shared/units.js';

const ZEROS = Buffer.alloc(1 * MIB);

function writeFully(fd: number, data: Buffer, position: number): void {
  let done = 0;
  while (done < data.length) done += writeSync(fd, data, done, data.length - done, position + done);
}

/** What applyPiece writes through: data chunks as they are, zero runs from a zero buffer. */
export function fdWriter(fd: number): DiskWriter {
  return (at, length, chunk) => {
    if (chunk) return writeFully(fd, chunk, at);
    for (let done = 0; done < length; done += ZEROS.length) writeFully(fd, ZEROS.subarray(0, Math.min(ZEROS.length, length - done)), at + done);
  };
}
