/**
 * VMDK and VHD files cut short are refused (client/vm/allocation-tables.ts): files made by
 * qemu-img itself from a raw disk with data at its start, middle and end, then truncated. qemu
 * opens the cut VMDKs and a VHD that lost only its footer (a VHD cut in its data it refuses
 * itself); the check is what stands between them and a capture of zeros.
 * No root: qemu-img on plain files.
 */
import { suite } from '../suite.js';
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, openSync, closeSync, readFileSync, rmSync, statSync, truncateSync, writeFileSync, writeSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { assertTablesInFile } from '../../client/vm/allocation-tables.js';

const MiB = 1024 * 1024;
const T = suite<{ dir: string; raw: string }>('VMDK and VHD files cut short');

T.before((ctx) => {
  ctx.dir = mkdtempSync(join(tmpdir(), 'shoal-tables-'));
  ctx.raw = join(ctx.dir, 'disk.raw');
  const fd = openSync(ctx.raw, 'w');
  for (const at of [0, 5 * MiB, 15 * MiB]) writeSync(fd, randomBytes(MiB), 0, MiB, at);
  closeSync(fd);
  truncateSync(ctx.raw, 16 * MiB);
});
T.after((ctx) => rmSync(ctx.dir, { recursive: true, force: true }));

const convert = (raw: string, out: string, driver: string, options: string[] = []): string => {
  execFileSync('qemu-img', ['convert', '-f', 'raw', '-O', driver, ...options, raw, out]);
  return out;
};
const opens = (file: string, driver: string): void => void execFileSync('qemu-img', ['info', '-f', driver, file], { stdio: 'ignore' });

for (const [name, driver, format, options] of [
  ['monolithicSparse VMDK', 'vmdk', 'vmdk', []],
  ['streamOptimized VMDK', 'vmdk', 'vmdk', ['-o', 'subformat=streamOptimized']],
  ['dynamic VHD', 'vpc', 'vpc', []],
] as const) {
  T(`${name}: whole, it passes; cut anywhere past its tables, it is refused and says where`, ({ dir, raw }) => {
    const file = convert(raw, join(dir, `${name.replace(/ /g, '-')}.img`), driver, [...options]);
    assertTablesInFile(file, format);
    const size = statSync(file).size;
    // Half-way through the data, and just its last sector: both open in qemu.
    for (const keep of [Math.floor(size / 2), size - 512]) {
      const cut = join(dir, `cut-${keep}-${driver}.img`);
      execFileSync('cp', [file, cut]);
      truncateSync(cut, keep);
      if (driver === 'vmdk' || keep === size - 512) opens(cut, driver);
      assert.throws(
        () => assertTablesInFile(cut, format),
        /is cut short: .*(ends at byte \d+, past the file's \d+ bytes|is missing) \(an incomplete copy\?\)/,
        `${name} cut to ${keep} of ${size} bytes`,
      );
    }
  });
}

T("a VHD with Virtual PC's old 511-byte footer passes; without it, it is refused", ({ dir, raw }) => {
  const file = convert(raw, join(dir, 'old.vhd'), 'vpc');
  const bytes = readFileSync(file);
  // The footer's last byte is reserved (zero): the old footer is the same 511 bytes before it.
  writeFileSync(file, bytes.subarray(0, bytes.length - 1));
  assertTablesInFile(file, 'vpc');
  writeFileSync(file, bytes.subarray(0, bytes.length - 512));
  assert.throws(() => assertTablesInFile(file, 'vpc'), /the footer a VHD ends with is missing/);
});

T('a fixed VHD and a VMDK with nothing written have no tables to cut: they pass', ({ dir, raw }) => {
  assertTablesInFile(convert(raw, join(dir, 'fixed.vhd'), 'vpc', ['-o', 'subformat=fixed']), 'vpc');
  const empty = join(dir, 'empty.vmdk');
  execFileSync('qemu-img', ['create', '-q', '-f', 'vmdk', empty, '64M']);
  assertTablesInFile(empty, 'vmdk');
});

T.run();
