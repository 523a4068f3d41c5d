/**
 * npm run bench:reimage (root) — re-imaging as a lab does it every night, with real processes on
 * the lab simulator's shaped network (scripts/lab): PCS PCs, one image of DATA MiB of files, four
 * rounds on the same disks:
 *   first   blank disks
 *   same    the same image again
 *   used    again, after each PC wrote USED MiB to its root (half a new file, half rewritten in place
 *           inside one of the image's files)
 *   update  version 2, captured after CHANGED % of the source's file data was rewritten in place
 * For each round: what the PCs fetched (the worst PC's bytes, and all of them together), what the
 * server sent, and the time from starting the PCs until the last one held the image (every PC
 * first checks what its disk holds: that time is in it). Beside them: the image's size on the wire,
 * the data changed, and the time to read the image's used data from one disk (page cache dropped),
 * measured in the same run; and the slowest PC's read-back of its disk (the part of a re-image that
 * grows with the image: the rest is start-up and round trips, the same for any image). Targets: same ≤ 2 % of the image and ≤ 1.2× the read time; used
 * ≤ 5 %; update ≤ 3× the data changed. Ends with one JSON line.
 * Options: --pcs 8  --data-mib 256  --used-mib 16  --changed-pct 1  --client-mbit 160  --server-mbit 1600
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, mkdtempSync, openSync, readSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { fileURLToPath } from 'node:url';
import { parseScriptArgs } from './usage.js';
import { loopOf, makeDataDisk, MiB, sh } from './bench-disk.js';
import { openLab, type LabResult } from './lab/run-lab.js';
import { openImage } from '../shared/image/store.js';
import { torrentPieces, type Manifest } from '../shared/image/manifest.js';

const { values } = parseScriptArgs(import.meta.url, {
  pcs: { type: 'string', default: '8' },
  'data-mib': { type: 'string', default: '256' },
  'used-mib': { type: 'string', default: '16' },
  'changed-pct': { type: 'string', default: '1' },
  'client-mbit': { type: 'string', default: '160' },
  'server-mbit': { type: 'string', default: '1600' },
});
const num = (name: keyof typeof values, min: number): number => {
  const n = Number(values[name]);
  if (!Number.isFinite(n) || n < min) throw new Error(`--${name}: a number, ${min} or more`);
  return n;
};
const PCS = num('pcs', 1);
const DATA_MIB = num('data-mib', 16);
const USED_MIB = num('used-mib', 1);
const CHANGED_PCT = num('changed-pct', 0.01);
const CLI = fileURLToPath(new URL('../client/cli.js', import.meta.url));
const FILE_MIB = 8; // bench-disk.ts writes files of 8 MiB

const dropCaches = (): void => writeFileSync('/proc/sys/vm/drop_caches', '3');

/** Overwrites `bytes` in place inside the files of the ext4 partition at `offset` of `disk`, from the first file on. */
function rewriteInPlace(disk: string, offset: number, size: number, bytes: number, newFileBytes = 0): void {
  const loops: string[] = [];
  const dev = loopOf(disk, offset, size, loops);
  const mnt = mkdtempSync(join(tmpdir(), 'shoal-bench-mnt-'));
  try {
    sh(`mount ${dev} ${mnt}`);
    try {
      for (let i = 0, left = bytes; left > 0; i++, left -= FILE_MIB * MiB) {
        const fd = openSync(join(mnt, `file-${i}.bin`), 'r+');
        try {
          writeSync(fd, randomBytes(Math.min(left, FILE_MIB * MiB)), 0, Math.min(left, FILE_MIB * MiB), 0);
        } finally {
          closeSync(fd);
        }
      }
      if (newFileBytes) writeFileSync(join(mnt, 'day-of-use.bin'), randomBytes(newFileBytes));
    } finally {
      sh(`umount ${mnt}`);
    }
  } finally {
    for (const l of loops) execFileSync('losetup', ['--detach', l]);
    rmSync(mnt, { recursive: true, force: true });
  }
}

/** Seconds to read every run of every piece of `m` from `disk`, cold. */
function readUsedSeconds(m: Manifest, disk: string): number {
  dropCaches();
  const fd = openSync(disk, 'r');
  const buf = Buffer.allocUnsafe(4 * MiB);
  const part = m.disks[0]!.partitions;
  const started = process.hrtime.bigint();
  try {
    for (const { area, piece } of torrentPieces(m)) {
      const base =
        area.kind === 'partition'
          ? part.find((p) => p.number === area.partitionNumber)!.startBytes
          : area.kind === 'head'
            ? (m.disks[0]!.table.firstLba ?? 34) * 512
            : 0;
      for (const [offset, length] of piece.runs)
        for (let at = 0; at < length; at += buf.length) readSync(fd, buf, 0, Math.min(buf.length, length - at), base + offset + at);
    }
  } finally {
    closeSync(fd);
  }
  return Number(process.hrtime.bigint() - started) / 1e9;
}

const dir = mkdtempSync(join(tmpdir(), 'shoal-bench-reimage-'));
try {
  const source = makeDataDisk(dir, DATA_MIB);
  source.release();
  const store = join(dir, 'store');
  const capture = (): void =>
    void execFileSync(process.execPath, [CLI, 'capture', '--disk', source.path, '--store', store, '--image', 'lab', '--type', 'multipart'], {
      stdio: ['ignore', 'ignore', 'inherit'],
    });
  capture();
  const v1 = (await openImage(store, 'lab', 1)).manifest;
  const image = v1.storedBytes;
  const changedBytes = Math.round((v1.rawBytes * CHANGED_PCT) / 100);
  console.log(
    `re-imaging benchmark: ${PCS} PCs at ${values['client-mbit']} Mbit/s, server ${values['server-mbit']} Mbit/s; image ${(v1.rawBytes / MiB).toFixed(1)} MiB of data, ${(image / MiB).toFixed(1)} MiB on the wire`,
  );
  // Each PC logs how long its read-back of the disk took (the part of a re-image that grows with
  // the image); the rest of its time is start-up, registration and reports, the same for any image.
  let readBackMs: number[] = [];
  const lab = await openLab({
    dir,
    store,
    image: 'lab',
    diskBytes: source.bytes,
    clients: PCS,
    clientMbit: num('client-mbit', 1),
    serverMbit: num('server-mbit', 1),
    log: (who, line) => {
      const m = who.startsWith('pc') && /"step":"read back what the disk holds","ms":(\d+)/.exec(line);
      if (m) readBackMs.push(Number(m[1]));
    },
  });
  const clientEnv = Object.fromEntries(Array.from({ length: PCS }, (_, i) => [i, { SHOAL_LOG_LEVEL: 'info' }]));
  const rows: Array<{ round: string; r: LabResult; worst: number; all: number; seconds: number; readBack: number }> = [];
  try {
    const round = async (name: string, version: number, blankDisks: boolean): Promise<void> => {
      dropCaches();
      readBackMs = [];
      const r = await lab.round({ version, blankDisks, timeoutMs: 30 * 60_000, clientEnv });
      const fetched = r.reports.map((p) => p?.downloadedBytes ?? NaN);
      if (readBackMs.length !== PCS) throw new Error(`${readBackMs.length} of ${PCS} PCs logged their read-back`);
      rows.push({
        round: name,
        r,
        worst: Math.max(...fetched),
        all: fetched.reduce((a, b) => a + b, 0),
        seconds: Math.max(...r.spawnSeconds),
        readBack: Math.max(...readBackMs) / 1000,
      });
    };
    await round('first', 1, true);
    const readSeconds = readUsedSeconds(v1, lab.disk(0));
    await round('same', 1, false);
    const part = v1.disks[0]!.partitions[0]!;
    for (let i = 0; i < PCS; i++) rewriteInPlace(lab.disk(i), part.startBytes, part.sizeBytes, (USED_MIB * MiB) / 2, (USED_MIB * MiB) / 2);
    await round('used', 1, false);
    rewriteInPlace(source.path, source.partOffset, source.partSize, changedBytes);
    capture();
    await lab.published('lab', 2);
    await round('update', 2, false);

    const pct = (n: number): string => `${((n / image) * 100).toFixed(2)} %`;
    console.log(
      `\nread the used data from one disk: ${readSeconds.toFixed(1)} s; data changed by the update: ${(changedBytes / MiB).toFixed(2)} MiB; a day of use: ${USED_MIB} MiB per PC`,
    );
    // ready: from starting the PCs until the group started (Node's start-up, registration, and
    // each PC's check of what its disk holds, on this machine's shared cores).
    // read-back: the slowest PC's check of what its disk holds, inside "ready".
    console.log(`round   worst PC fetched      all PCs    server sent   last PC done   of which ready   read-back`);
    for (const x of rows) {
      console.log(
        `${x.round.padEnd(7)} ${(x.worst / MiB).toFixed(2).padStart(8)} MiB ${pct(x.worst).padStart(8)} ${(x.all / MiB).toFixed(1).padStart(8)} MiB ${(x.r.seederSentBytes / MiB).toFixed(1).padStart(9)} MiB ${x.seconds.toFixed(1).padStart(9)} s ${x.r.readySeconds.toFixed(1).padStart(12)} s ${x.readBack.toFixed(2).padStart(9)} s`,
      );
    }
    const get = (name: string) => rows.find((x) => x.round === name)!;
    const result = {
      bench: 'reimage',
      same_pct: Number(((get('same').worst / image) * 100).toFixed(3)),
      used_pct: Number(((get('used').worst / image) * 100).toFixed(3)),
      update_over_changed: Number((get('update').worst / changedBytes).toFixed(3)),
      same_time_over_read: Number((get('same').seconds / readSeconds).toFixed(3)),
      same_readback_over_read: Number((get('same').readBack / readSeconds).toFixed(3)),
    };
    const targets = [
      ['same image again ≤ 2 % of the image', result.same_pct <= 2],
      ['same image again ≤ 1.2× the read time', result.same_time_over_read <= 1.2],
      ['after use ≤ 5 %', result.used_pct <= 5],
      ['update ≤ 3× the data changed', result.update_over_changed <= 3],
    ] as const;
    for (const [what, met] of targets) console.log(`${met ? 'met' : 'MISSED'}: ${what}`);
    console.log(JSON.stringify(result));
  } finally {
    await lab.close();
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
