/**
 * What a PC tells the portal about itself when it registers: CPU, memory, disks, NICs and firmware
 * mode (and each NIC's IPv4 subnet, for Wake-on-LAN), read from /proc and /sys as any PXE-booted Linux has them. Anything unreadable is left out
 * rather than failing the registration.
 */
import { readdirSync, readFileSync, existsSync } from 'node:fs';
import { cpus, networkInterfaces, totalmem } from 'node:os';
import type { Inventory } from '../../shared/http/api.js';

const read = (path: string): string | undefined => {
  try {
    return readFileSync(path, 'utf8').trim();
  } catch {
    return undefined;
  }
};

export function hostInventory(): Inventory {
  const disks = safeList('/sys/block')
    .filter((d) => !/^(loop|ram|zram|sr|fd|dm-|md)/.test(d))
    .map((d) => ({
      name: d,
      sizeBytes: Number(read(`/sys/block/${d}/size`) ?? 0) * 512,
      ...(read(`/sys/block/${d}/device/model`) && { model: read(`/sys/block/${d}/device/model`)! }),
    }))
    .slice(0, 64);
  // Each NIC's IPv4 address with its prefix: the portal wakes the PC by its subnet's broadcast.
  const addrs = networkInterfaces();
  const nics = safeList('/sys/class/net')
    .filter((n) => n !== 'lo')
    .map((n) => {
      const cidr = addrs[n]?.find((a) => a.family === 'IPv4' && !a.internal)?.cidr;
      return { name: n, mac: read(`/sys/class/net/${n}/address`) ?? '', ...(cidr && { cidr }) };
    })
    .slice(0, 64);
  return {
    ...(cpus()[0]?.model && { cpu: cpus()[0]!.model.slice(0, 200) }),
    cores: Math.max(1, cpus().length),
    memoryBytes: totalmem(),
    disks,
    nics,
    firmware: existsSync('/sys/firmware/efi') ? 'uefi' : 'bios',
  };
}

function safeList(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}
