/**
 * A Windows SYSTEM registry hive made here, for the tests of the computer name written offline.
 * Debian's hivex tools edit hives but cannot start one (every hive they open must exist), and no
 * Debian package ships an empty one. So the test writes the smallest valid hive file itself: the
 * 4 KiB base block ("regf", sequence numbers, the root cell's offset, the XOR checksum of its first
 * 508 bytes) and one 4 KiB bin holding the root key (an "nk" cell), its security cell ("sk", which
 * hivex copies to every key it adds) and a free cell for the rest, as the public REGF format
 * descriptions lay them out. Everything else (the ControlSet, Select, ComputerName and Tcpip keys
 * and their values) is added by hivexsh, the tool the client itself uses, so the file the client
 * edits is one hivex wrote. Windows' own SYSTEM hives hold the same keys and values.
 */
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';

const BLOCK = 4096;
const FILETIME_2020 = 132223104000000000n;

function baseBlock(binsBytes: number, rootOffset: number): Buffer {
  const b = Buffer.alloc(BLOCK);
  b.write('regf', 0, 'latin1');
  b.writeUInt32LE(1, 4);
  b.writeUInt32LE(1, 8);
  b.writeBigUInt64LE(FILETIME_2020, 12);
  b.writeUInt32LE(1, 20); // major version
  b.writeUInt32LE(5, 24); // minor version (Windows XP and later)
  b.writeUInt32LE(0, 28); // primary file
  b.writeUInt32LE(1, 32); // direct memory load
  b.writeUInt32LE(rootOffset, 36);
  b.writeUInt32LE(binsBytes, 40);
  b.writeUInt32LE(1, 44); // clustering factor
  b.write('SYSTEM', 48, 'utf16le');
  let sum = 0;
  for (let i = 0; i < 508; i += 4) sum ^= b.readUInt32LE(i);
  sum >>>= 0;
  b.writeUInt32LE(sum === 0xffffffff ? 0xfffffffe : sum === 0 ? 1 : sum, 508);
  return b;
}

/** A cell: its size (negative while in use) and content, padded to 8 bytes. */
function cell(content: Buffer, used = true): Buffer {
  const size = Math.ceil((content.length + 4) / 8) * 8;
  const c = Buffer.alloc(size);
  c.writeInt32LE(used ? -size : size, 0);
  content.copy(c, 4);
  return c;
}

function rootKey(name: string, skOffset: number): Buffer {
  const nk = Buffer.alloc(0x4c + name.length);
  nk.write('nk', 0, 'latin1');
  nk.writeUInt16LE(0x0004 | 0x0008 | 0x0020, 2); // hive root, not deletable, ASCII name
  nk.writeBigUInt64LE(FILETIME_2020, 4);
  nk.writeUInt32LE(0xffffffff, 0x10); // the root has no parent
  nk.writeUInt32LE(0xffffffff, 0x1c); // no subkey list yet
  nk.writeUInt32LE(0xffffffff, 0x20);
  nk.writeUInt32LE(0xffffffff, 0x28); // no value list yet
  nk.writeUInt32LE(skOffset, 0x2c);
  nk.writeUInt32LE(0xffffffff, 0x30); // no class name
  nk.writeUInt16LE(name.length, 0x48);
  nk.write(name, 0x4c, 'latin1');
  return nk;
}

function securityKey(selfOffset: number): Buffer {
  // A self-relative security descriptor with a NULL DACL (everyone may do anything): the tests'
  // hive is read by hivex only, never by Windows.
  const sd = Buffer.alloc(20);
  sd.writeUInt8(1, 0);
  sd.writeUInt16LE(0x8004, 2);
  const sk = Buffer.alloc(0x14 + sd.length);
  sk.write('sk', 0, 'latin1');
  sk.writeUInt32LE(selfOffset, 4);
  sk.writeUInt32LE(selfOffset, 8);
  sk.writeUInt32LE(1, 12);
  sk.writeUInt32LE(sd.length, 16);
  sd.copy(sk, 0x14);
  return sk;
}

/** An empty hive: its root key and nothing below. */
export function writeEmptyHive(path: string, rootName = 'ROOT'): void {
  const header = Buffer.alloc(32);
  header.write('hbin', 0, 'latin1');
  header.writeUInt32LE(0, 4);
  header.writeUInt32LE(BLOCK, 8);
  header.writeBigUInt64LE(FILETIME_2020, 20);
  const rootOffset = 32;
  const rootCell = cell(rootKey(rootName, 0));
  const skOffset = rootOffset + rootCell.length;
  rootKey(rootName, skOffset).copy(rootCell, 4);
  const skCell = cell(securityKey(skOffset));
  const used = 32 + rootCell.length + skCell.length;
  const free = Buffer.alloc(BLOCK - used);
  free.writeInt32LE(free.length, 0);
  writeFileSync(path, Buffer.concat([baseBlock(BLOCK, rootOffset), header, rootCell, skCell, free]));
}

/** hivexsh commands, written to the hive and committed. */
export function hivexsh(hive: string, commands: string[]): string {
  return execFileSync('hivexsh', ['-w', hive], { input: `${commands.join('\n')}\ncommit\n`, encoding: 'utf8' });
}

/**
 * A SYSTEM hive as Windows lays out the parts a computer name lives in: Select\Current names the
 * control set in use (here 2, so a client that assumed ControlSet001 would write the wrong one),
 * its ComputerName key, and Tcpip's Parameters with their other values beside the host names.
 */
export function writeSystemHive(path: string, computerName: string): void {
  writeEmptyHive(path);
  const cmds = ['add Select', 'cd Select', 'setval 4', 'Current', 'dword:2', 'Default', 'dword:2', 'Failed', 'dword:0', 'LastKnownGood', 'dword:1', 'cd ..'];
  for (const set of ['ControlSet001', 'ControlSet002']) {
    cmds.push(
      `add ${set}`,
      `cd ${set}`,
      'add Control',
      'cd Control',
      'add ComputerName',
      'cd ComputerName',
      'add ComputerName',
      'cd ComputerName',
      'setval 2',
      '@',
      'string:mnmsrvc',
      'ComputerName',
      `string:${computerName}`,
      'cd ..',
      'cd ..',
      'cd ..',
      'add Services',
      'cd Services',
      'add Tcpip',
      'cd Tcpip',
      'add Parameters',
      'cd Parameters',
      'setval 6',
      'Hostname',
      `string:${computerName}`,
      'NV Hostname',
      `string:${computerName}`,
      'Domain',
      'string:',
      'DataBasePath',
      'expandstring:%SystemRoot%\\System32\\drivers\\etc',
      'UseDomainNameDevolution',
      'dword:1',
      'SearchList',
      'hex:7:00,00',
      'cd \\ ',
    );
  }
  hivexsh(path, cmds);
}

/** A value of the hive as hivexget prints it. */
export const hiveValue = (hive: string, key: string, name: string): string => execFileSync('hivexget', [hive, key, name], { encoding: 'utf8' }).trim();
