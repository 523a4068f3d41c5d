/** What a PC does once its disk is whole: the firmware's boot entry and order, its own name. */
import { suite } from '../suite.js';
import * as assert from 'uvu/assert';
import { bootOrderAfterDeploy, chooseLoader, entryBoots, isNetworkEntry, parseBootVars } from '../../client/finish/uefi-boot-entry.js';
import { hostsWithName, parseLsval } from '../../client/finish/host-personalize.js';
import { isHostname } from '../../shared/http/api.js';

const T = suite('after the deploy');

// efibootmgr 17's `-v` listing on OVMF after the first network boot (its device paths as printed).
const LISTING = [
  'BootCurrent: 0003',
  'Timeout: 0 seconds',
  'BootOrder: 0003,0004,0005,0006,0002,0001,0000',
  'Boot0000* UiApp\tFvVol(7cb8bdc9-f8eb-4f34-aaea-3ee4af6516a1)/FvFile(462caa21-7614-4503-836e-8ab6f4662331)',
  'Boot0001* UEFI QEMU DVD-ROM QM00005 \tPciRoot(0x0)/Pci(0x1f,0x2)/Sata(2,65535,0)N.....YM....R,Y.',
  'Boot0002* UEFI Misc Device\tPciRoot(0x0)/Pci(0x3,0x0)N.....YM....R,Y.',
  'Boot0003* UEFI PXEv4 (MAC:525400AA0001)\tPciRoot(0x0)/Pci(0x2,0x0)/MAC(525400aa0001,1)/IPv4(0.0.0.00.0.0.0,0,0)N.....YM....R,Y.',
  'Boot0004* UEFI PXEv6 (MAC:525400AA0001)\tPciRoot(0x0)/Pci(0x2,0x0)/MAC(525400aa0001,1)/IPv6([::]:<->[::]:,0,0)N.....YM....R,Y.',
  'Boot0005* UEFI HTTPv4 (MAC:525400AA0001)\tPciRoot(0x0)/Pci(0x2,0x0)/MAC(525400aa0001,1)/IPv4(0.0.0.00.0.0.0,0,0)/Uri()N.....YM....R,Y.',
  'Boot0006  UEFI HTTPv6 (MAC:525400AA0001)\tPciRoot(0x0)/Pci(0x2,0x0)/MAC(525400aa0001,1)/IPv6([::]:<->[::]:,0,0)/Uri()N.....YM....R,Y.',
  'Boot0007* debian\tHD(2,GPT,7883a81d-6f21-f348-ba38-5d230e66cff1,0x1000,0x20000)/File(\\EFI\\debian\\shimx64.efi)',
].join('\n');

T('efibootmgr -v: the current entry, the order, each entry with its label, state and device path', () => {
  const v = parseBootVars(LISTING);
  assert.is(v.current, '0003');
  assert.equal(v.order, ['0003', '0004', '0005', '0006', '0002', '0001', '0000']);
  assert.is(v.entries.length, 8);
  assert.equal(v.entries[7], {
    id: '0007',
    active: true,
    label: 'debian',
    path: 'HD(2,GPT,7883a81d-6f21-f348-ba38-5d230e66cff1,0x1000,0x20000)/File(\\EFI\\debian\\shimx64.efi)',
  });
  assert.is(v.entries[6]!.active, false);
  assert.equal(
    v.entries.filter(isNetworkEntry).map((e) => e.id),
    ['0003', '0004', '0005', '0006'],
  );
});

T('an entry boots a loader from a partition: matched by the partition GUID and the path, either case, either efibootmgr format', () => {
  const [debian] = parseBootVars(LISTING).entries.slice(7);
  assert.ok(entryBoots(debian!, '7883A81D-6F21-F348-BA38-5D230E66CFF1', 'EFI/debian/shimx64.efi'));
  assert.not.ok(entryBoots(debian!, '7883A81D-6F21-F348-BA38-5D230E66CFF1', 'EFI/debian/grubx64.efi'));
  assert.not.ok(entryBoots(debian!, '00000000-6F21-F348-BA38-5D230E66CFF1', 'EFI/debian/shimx64.efi'));
  // efibootmgr 18 prints the file path without File(…).
  assert.ok(
    entryBoots(
      { id: '0008', active: true, label: 'debian', path: 'HD(2,GPT,7883a81d-6f21-f348-ba38-5d230e66cff1,0x1000,0x20000)/\\EFI\\debian\\shimx64.efi' },
      '7883a81d-6f21-f348-ba38-5d230e66cff1',
      'EFI/debian/shimx64.efi',
    ),
  );
});

T('the boot order after a deploy: the network entry the PC came by, the OS, the other network entries, the rest', () => {
  assert.equal(bootOrderAfterDeploy(parseBootVars(LISTING), '0007'), ['0003', '0007', '0004', '0005', '0006', '0002', '0001', '0000']);
  // Booted from something else (a USB stick): every network entry stays ahead of the OS.
  const usb = parseBootVars(LISTING.replace('BootCurrent: 0003', 'BootCurrent: 0001'));
  assert.equal(bootOrderAfterDeploy(usb, '0007'), ['0003', '0004', '0005', '0006', '0007', '0002', '0001', '0000']);
  // An entry already in the order moves to its place rather than appearing twice.
  const again = parseBootVars(LISTING.replace('BootOrder: 0003,', 'BootOrder: 0007,0003,'));
  assert.equal(bootOrderAfterDeploy(again, '0007'), ['0003', '0007', '0004', '0005', '0006', '0002', '0001', '0000']);
});

T("the loader: shim before GRUB, Windows' boot manager, else the removable path; nothing when the ESP has none", () => {
  assert.equal(chooseLoader(['EFI/debian/', 'EFI/debian/grubx64.efi', 'EFI/debian/shimx64.efi', 'EFI/debian/mmx64.efi', 'EFI/debian/BOOTX64.CSV']), {
    loader: 'EFI/debian/shimx64.efi',
    vendor: 'debian',
  });
  assert.equal(chooseLoader(['EFI/Microsoft/Boot/bootmgfw.efi', 'EFI/Microsoft/Boot/memtest.efi', 'EFI/Boot/bootx64.efi']), {
    loader: 'EFI/Microsoft/Boot/bootmgfw.efi',
    vendor: 'Microsoft',
  });
  assert.equal(chooseLoader(['EFI/BOOT/BOOTX64.EFI']), { loader: 'EFI/BOOT/BOOTX64.EFI' });
  assert.is(chooseLoader(['EFI/debian/grub.cfg']), undefined);
});

T('a host name for the deployed systems: letters, digits, . _ -, no spaces or line breaks, at most 63', () => {
  for (const ok of ['pc-01', 'LAB1.PC07', 'a', 'x'.repeat(63)]) assert.ok(isHostname(ok), ok);
  for (const bad of ['', '-pc', 'pc 01', 'pc\n127.0.0.1 evil', 'pc;reboot', 'x'.repeat(64), 'pc/../x']) assert.not.ok(isHostname(bad), JSON.stringify(bad));
});

T('/etc/hosts: the 127.0.1.1 line names the host; added after localhost when missing; other lines kept', () => {
  assert.is(
    hostsWithName('127.0.0.1\tlocalhost\n127.0.1.1\tref-pc\n::1\tlocalhost ip6-localhost\n', 'pc-07'),
    '127.0.0.1\tlocalhost\n127.0.1.1\tpc-07\n::1\tlocalhost ip6-localhost\n',
  );
  assert.is(hostsWithName('127.0.0.1 localhost\n10.0.0.1 server\n', 'pc-07'), '127.0.0.1 localhost\n127.0.1.1\tpc-07\n10.0.0.1 server\n');
});

T("a hive key's values as hivexsh lists them become setval input that writes them back unchanged", () => {
  const v = parseLsval(
    [
      '"@"="mnmsrvc"',
      '"ComputerName"="REF-PC"',
      '"DataBasePath"=str(2):"%SystemRoot%\\\\System32\\\\drivers\\\\etc"',
      '"UseDomainNameDevolution"=dword:00000001',
      '"SearchList"=hex(7):00,00',
      '"Quote\\"d"="a\\"b"',
    ].join('\n'),
    'k',
  );
  assert.equal([...v.keys()], ['@', 'ComputerName', 'DataBasePath', 'UseDomainNameDevolution', 'SearchList', 'Quote"d']);
  assert.is(v.get('ComputerName'), 'hex:1:52,00,45,00,46,00,2d,00,50,00,43,00,00,00');
  assert.is(
    v.get('DataBasePath'),
    `hex:2:${[...Buffer.from('%SystemRoot%\\System32\\drivers\\etc\0', 'utf16le')].map((b) => b.toString(16).padStart(2, '0')).join(',')}`,
  );
  assert.is(v.get('UseDomainNameDevolution'), 'dword:0x00000001');
  assert.is(v.get('SearchList'), 'hex:7:00,00');
  assert.throws(() => parseLsval('"Odd"=something-else', 'k'), /cannot carry over/);
});

T.run();
