import { networkInterfaces } from 'node:os';

/** The first non-loopback IPv4 address: what other PCs reach this machine at in a typical lab. */
export function lanAddress(): string {
  for (const addrs of Object.values(networkInterfaces())) {
    for (const a of addrs ?? []) if (a.family === 'IPv4' && !a.internal) return a.address;
  }
  return '127.0.0.1';
}

/**
 * The /24 of an IPv4 address or the /64 of an IPv6 one: what Shoal takes for a room (a lab's
 * switch), whose PCs reach each other faster than the rest of the campus.
 */
export function subnetOf(ip: string): string {
  const v4 = ip.replace(/^::ffff:/, '');
  if (/^\d+\.\d+\.\d+\.\d+$/.test(v4)) return v4.split('.').slice(0, 3).join('.');
  return ip.split(':').slice(0, 4).join(':');
}
