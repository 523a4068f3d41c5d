/**
 * The benchmarks' source disk: a GPT disk-image file with one ext4 partition holding DATA_MIB of
 * files, half random and half text that compresses about as well as binaries and documents do.
 */
import { execFileSync, execSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync, truncateSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';

export const MiB = 1024 * 1024;
export const sh = (cmd: string): string => execSync(cmd, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], shell: '/bin/bash' });

/** Text that compresses 3–4× with zstd -6. */
export function compressibleText(bytes: number): Buffer {
  const words = Array.from({ length: 5000 }, () => randomBytes(3 + (randomBytes(1)[0]! % 8)).toString('base64url'));
  const parts: string[] = [];
  let n = 0;
  while (n < bytes) {
    const line = `${words[Math.floor(Math.random() * words.length)]} ${Math.floor(Math.random() * 1e6)} ${words[Math.floor(Math.random() * words.length)]} ${words[Math.floor(Math.random() * 200)]}\n`;
    parts.push(line);
    n += line.length;
  }
  return Buffer.from(parts.join('')).subarray(0, bytes);
}

export interface DataDisk {
  path: string;
  bytes: number;
  partOffset: number;
  partSize: number;
  /** A loop device over the partition (detached by release()). */
  partDev: string;
  /** Loop devices to detach when done. */
  loops: string[];
  release(): void;
}

export function loopOf(file: string, offset: number, size: number, loops: string[]): string {
  const d = sh(`losetup --find --show --offset ${offset} --sizelimit ${size} ${file}`).trim();
  loops.push(d);
  return d;
}

/** What `sfdisk --json` says of a disk's partitions: start and size in 512-byte sectors. */
const SfdiskPartitionsSchema = z.object({
  partitiontable: z.object({ partitions: z.array(z.object({ start: z.number(), size: z.number() })).default([]) }),
});

/** The partitions of a disk-image file, as sfdisk lists them (none: a table without partitions). */
export const partitionsOf = (path: string): Array<{ start: number; size: number }> =>
  SfdiskPartitionsSchema.parse(JSON.parse(sh(`sfdisk --json ${path}`))).partitiontable.partitions;

export function makeDataDisk(dir: string, dataMib: number): DataDisk {
  const bytes = (dataMib + 512) * MiB;
  const path = join(dir, 'source.img');
  writeFileSync(path, '');
  truncateSync(path, bytes);
  sh(`printf 'label: gpt\\n\\nsize=+, type=0FC63DAF-8483-4772-8E79-3D69D8477DE4, name="root"\\n' | sfdisk --quiet ${path}`);
  const part = partitionsOf(path)[0]!;
  const loops: string[] = [];
  const partDev = loopOf(path, part.start * 512, part.size * 512, loops);
  const mnt = join(dir, 'mnt');
  sh(`mkfs.ext4 -q -F ${partDev}`);
  mkdirSync(mnt, { recursive: true });
  sh(`mount ${partDev} ${mnt}`);
  try {
    const FILE_MIB = 8;
    for (let i = 0; i < dataMib / FILE_MIB; i++)
      writeFileSync(join(mnt, `file-${i}.bin`), i % 2 ? randomBytes(FILE_MIB * MiB) : compressibleText(FILE_MIB * MiB));
  } finally {
    sh(`umount ${mnt}`);
  }
  return {
    path,
    bytes,
    partOffset: part.start * 512,
    partSize: part.size * 512,
    partDev,
    loops,
    release: () => {
      for (const l of loops.splice(0))
        try {
          execFileSync('losetup', ['--detach', l]);
        } catch {
          /* gone */
        }
    },
  };
}
