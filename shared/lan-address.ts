import { networkInterfaces } from 'node:os';

/** The first non-loopback IPv4 address: what other PCs reach this machine at in a typical lab. */
export function lanAddress(): string {
  for (const addrs of Object.values(networkInterfaces())) {
    for (const a of addrs ?? []) if (a.family === 'IPv4' && !a.internal) return a.address;
  }
  return '127.0.0.1';
}
