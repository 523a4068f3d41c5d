/** What `shoal start --pxe` hands dnsmasq and GRUB: proxy or full DHCP, first stages by architecture. */
import { suite } from '../suite.js';
import * as assert from 'uvu/assert';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BOOT_FILES, dnsmasqConfig, grubConfig, grubHostConfig, pcTftpDir, prepareTftpRoot, writePcBootDirs } from '../../portal/boot/pxe.js';
import { bootScript, clientCmdline } from '../../portal/boot/boot-routes.js';

const T = suite('pxe config');
const base = {
  interface: 'eth0',
  address: '10.0.0.5',
  netmask: '255.255.255.0',
  portalUrl: 'http://10.0.0.5:8080',
  tftpRoot: '/var/lib/shoal/tftp',
  leaseFile: '/var/lib/shoal/dnsmasq.leases',
};
const lines = (s: string) => s.split('\n');

T('proxy DHCP by default: no addresses handed out, PXE boot services by architecture, iPXE sent to the portal', () => {
  const c = lines(dnsmasqConfig(base));
  assert.ok(c.includes('dhcp-range=10.0.0.0,proxy,255.255.255.0'));
  assert.ok(c.includes('port=0'), 'no DNS server');
  assert.ok(c.includes('interface=eth0') && c.includes('bind-interfaces'));
  assert.ok(c.includes('dhcp-match=set:efi64,option:client-arch,7') && c.includes('dhcp-match=set:ipxe,175'));
  assert.ok(c.includes('dhcp-boot=tag:ipxe,http://10.0.0.5:8080/boot/ipxe'));
  assert.ok(c.includes('pxe-service=tag:!ipxe,x86PC,"Shoal (BIOS)",undionly.kpxe'));
  assert.ok(c.includes('pxe-service=tag:ipxe,x86PC,"Shoal",http://10.0.0.5:8080/boot/ipxe'));
  assert.ok(c.includes('pxe-service=tag:!ipxe,X86-64_EFI,"Shoal (UEFI)",bootx64.efi'));
  // Each PC's TFTP requests from its own directory when it has one (the portal's, while a task waits).
  assert.ok(c.includes('tftp-unique-root=mac'));
  assert.not.ok(c.some((l) => l === 'dhcp-authoritative'));
});

T('full DHCP for an isolated lab: the range, the boot file itself, no PXE menu (UEFI firmware cancels on one)', () => {
  const c = lines(dnsmasqConfig({ ...base, dhcpRange: '10.0.0.100,10.0.0.200' }));
  assert.ok(c.includes('dhcp-range=10.0.0.100,10.0.0.200,255.255.255.0,12h'));
  assert.ok(c.includes('dhcp-boot=tag:!ipxe,tag:!efi64,undionly.kpxe') && c.includes('dhcp-boot=tag:!ipxe,tag:efi64,bootx64.efi'));
  assert.not.ok(c.some((l) => l.startsWith('pxe-service') || l.startsWith('pxe-prompt')));
  assert.throws(() => dnsmasqConfig({ ...base, dhcpRange: '10.0.0.100' }), /first and last address/);
  assert.throws(() => dnsmasqConfig({ ...base, dhcpRange: '10.0.0.100,10.0.0.300' }), /first and last address/);
  assert.throws(() => dnsmasqConfig({ ...base, dhcpRange: '10.0.0.1,x;rm -rf' }), /first and last address/);
});

T(
  'TFTP: the shared root has every first stage but shim; a PC with a task gets a directory of its own with shim, the rest and its grub.cfg, gone when its part is over',
  () => {
    const dir = mkdtempSync(join(tmpdir(), 'shoal-tftp-'));
    const boot = join(dir, 'boot');
    mkdirSync(boot);
    for (const f of BOOT_FILES) writeFileSync(join(boot, f), f);
    const [root, files] = [join(dir, 'tftp'), join(dir, 'boot-files')];
    prepareTftpRoot(boot, root, files);
    assert.not.ok(existsSync(join(root, 'bootx64.efi')), 'no shim for a UEFI PC without a task: its network boot fails and its disk boots');
    for (const f of BOOT_FILES.filter((f) => f !== 'bootx64.efi')) assert.ok(existsSync(join(root, f)), f);
    assert.match(readFileSync(join(root, 'grub/grub.cfg'), 'utf8'), /\nexit 1\n/);
    const mac = '52:54:00:AB:00:01';
    assert.is(pcTftpDir(mac), '52-54-00-ab-00-01', "dnsmasq's tftp-unique-root=mac form");
    writePcBootDirs(root, files, new Map([[mac, grubHostConfig('shoal.key=K1')]]));
    const own = join(root, '52-54-00-ab-00-01');
    for (const f of BOOT_FILES) assert.is(statSync(join(own, f)).ino, statSync(join(files, f)).ino, `${f}: a hard link, not a copy`);
    assert.match(readFileSync(join(own, 'grub/grub.cfg'), 'utf8'), /linux \/vmlinuz shoal\.key=K1\n/);
    writePcBootDirs(root, files, new Map([[mac, grubHostConfig('shoal.key=K2')]]));
    assert.match(readFileSync(join(own, 'grub/grub.cfg'), 'utf8'), /shoal\.key=K2/, 'a renewed key replaces the file');
    writePcBootDirs(root, files, new Map());
    assert.equal(
      readdirSync(root).filter((d) => d.startsWith('52-')),
      [],
      'the directory goes with the task',
    );
  },
);

T('GRUB: the shared file returns to the firmware; the command line carries the key and nothing else secret', () => {
  assert.match(grubConfig(), /\necho .*\nexit 1\n/, 'back to the firmware asking for an error, so it tries its next entry');
  const cmdline = clientCmdline({ portalUrl: 'http://10.0.0.5:8080', mac: '52:54:00:ab:00:01', key: 'K1', taskId: 7, finish: 'reboot', disk: '/dev/nvme0n1' });
  assert.is(
    cmdline,
    'shoal.portal=http://10.0.0.5:8080 shoal.mac=52:54:00:ab:00:01 shoal.key=K1 shoal.task=7 shoal.after=reboot shoal.disk=/dev/nvme0n1 console=ttyS0,115200 console=tty0 quiet',
  );
  assert.match(grubHostConfig(cmdline), /linux \/vmlinuz shoal\.portal=.*\ninitrd \/initrd\.img\nboot\n/);
  assert.match(
    bootScript({ portalUrl: 'http://p', mac: '52:54:00:ab:00:02', key: 'K', taskId: 1, finish: 'poweroff' }),
    /kernel http:\/\/p\/boot\/shoal\/vmlinuz initrd=initrd\.img shoal\.portal=http:\/\/p shoal\.mac=52:54:00:ab:00:02 shoal\.key=K shoal\.task=1 shoal\.after=poweroff console/,
  );
});

T('a kernel command line takes no field that would add an argument or a line, whatever the database holds', () => {
  const good = { portalUrl: 'http://10.0.0.5:8080', mac: '52:54:00:ab:00:01', key: 'K1', taskId: 7, finish: 'reboot', disk: '/dev/sda' };
  assert.ok(clientCmdline(good).includes('shoal.disk=/dev/sda '));
  for (const [field, value] of [
    ['disk', '/dev/sda\nchain http://x'],
    ['disk', '/dev/sda init=/bin/sh'],
    ['disk', '/dev/../x'],
    ['portalUrl', 'http://a b'],
    ['key', 'K1 init=/bin/sh'],
    ['finish', 'reboot\nshell'],
    ['mac', '52:54:00:ab:00:01 x'],
  ] as const) {
    assert.throws(
      () => clientCmdline({ ...good, [field]: value }),
      new RegExp(`its ${field === 'portalUrl' ? 'portal URL' : field === 'mac' ? 'MAC' : field} .* cannot go on a kernel command line`),
      `${field} ${JSON.stringify(value)}`,
    );
  }
});

T.run();
