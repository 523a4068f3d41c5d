/** What `shoal start --pxe` hands dnsmasq and GRUB: proxy or full DHCP, first stages by architecture. */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { dhcpHostsText, dnsmasqConfig, grubConfig, grubHostConfig, grubHostFile, writeDhcpHosts } from '../../portal/pxe.js';
import { bootScript, clientCmdline } from '../../portal/routes/boot.js';

const T = suite('pxe config');
const base = { interface: 'eth0', address: '10.0.0.5', netmask: '255.255.255.0', portalUrl: 'http://10.0.0.5:8080', tftpRoot: '/var/lib/shoal/tftp', leaseFile: '/var/lib/shoal/dnsmasq.leases', hostsFile: '/var/lib/shoal/dnsmasq-hosts' };
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
  // UEFI: shim only for a PC with a task (the hosts file tags it); any other boots its disk at once.
  assert.ok(c.includes('pxe-service=tag:!ipxe,tag:shoaltask,X86-64_EFI,"Shoal (UEFI)",bootx64.efi'));
  assert.ok(c.includes('dhcp-hostsfile=/var/lib/shoal/dnsmasq-hosts'));
  assert.not.ok(c.some((l) => l === 'dhcp-authoritative'));
});

T('full DHCP for an isolated lab: the range, the boot file itself, no PXE menu (UEFI firmware cancels on one)', () => {
  const c = lines(dnsmasqConfig({ ...base, dhcpRange: '10.0.0.100,10.0.0.200' }));
  assert.ok(c.includes('dhcp-range=10.0.0.100,10.0.0.200,255.255.255.0,12h'));
  assert.ok(c.includes('dhcp-boot=tag:!ipxe,tag:!efi64,undionly.kpxe') && c.includes('dhcp-boot=tag:!ipxe,tag:efi64,tag:shoaltask,bootx64.efi'));
  assert.not.ok(c.some((l) => l.startsWith('pxe-service') || l.startsWith('pxe-prompt')));
  assert.throws(() => dnsmasqConfig({ ...base, dhcpRange: '10.0.0.100' }), /first and last address/);
  assert.throws(() => dnsmasqConfig({ ...base, dhcpRange: '10.0.0.100,10.0.0.300' }), /first and last address/);
  assert.throws(() => dnsmasqConfig({ ...base, dhcpRange: '10.0.0.1,x;rm -rf' }), /first and last address/);
});

T('the hosts file: each PC with a task waiting, once, lower case, tagged; rewritten only when the set changes', () => {
  assert.is(dhcpHostsText(['52:54:00:AB:00:02', '52:54:00:ab:00:01', '52:54:00:ab:00:02']), '52:54:00:ab:00:01,set:shoaltask\n52:54:00:ab:00:02,set:shoaltask\n');
  assert.is(dhcpHostsText([]), '');
  const file = join(mkdtempSync(join(tmpdir(), 'shoal-hosts-')), 'dnsmasq-hosts');
  assert.ok(writeDhcpHosts(file, ['52:54:00:ab:00:01']));
  assert.not.ok(writeDhcpHosts(file, ['52:54:00:AB:00:01']), 'the same set: dnsmasq is left alone');
  assert.ok(writeDhcpHosts(file, []));
  assert.is(readFileSync(file, 'utf8'), '');
});

T('GRUB: per-host files by MAC, the shared file boots the local disk; the command line carries the key and nothing else secret', () => {
  assert.is(grubHostFile('52:54:00:AB:00:01'), '52:54:00:ab:00:01.cfg');
  assert.match(grubConfig(), /\nsource "\$prefix\/hosts\/\$net_default_mac\.cfg"\necho .*\nexit 1\n/, 'back to the firmware with an error, so it tries its next entry');
  const cmdline = clientCmdline({ portalUrl: 'http://10.0.0.5:8080', mac: '52:54:00:ab:00:01', key: 'K1', taskId: 7, finish: 'reboot', disk: '/dev/nvme0n1' });
  assert.is(cmdline, 'shoal.portal=http://10.0.0.5:8080 shoal.mac=52:54:00:ab:00:01 shoal.key=K1 shoal.task=7 shoal.after=reboot shoal.disk=/dev/nvme0n1 console=ttyS0,115200 console=tty0 quiet');
  assert.match(grubHostConfig(cmdline), /linux \/vmlinuz shoal\.portal=.*\ninitrd \/initrd\.img\nboot\n/);
  assert.match(bootScript({ portalUrl: 'http://p', mac: 'm', key: 'K', taskId: 1, finish: 'poweroff' }), /kernel http:\/\/p\/boot\/shoal\/vmlinuz initrd=initrd\.img shoal\.portal=http:\/\/p shoal\.mac=m shoal\.key=K shoal\.task=1 shoal\.after=poweroff console/);
});

T.run();
