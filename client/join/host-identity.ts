/** Who this PC is to the portal: its MAC address (the one PXE booted from, on a lab PC). */
import { networkInterfaces } from 'node:os';
import { ShoalError } from '../../shared/errors.js';

export function defaultMac(): string {
  for (const addrs of Object.values(networkInterfaces())) {
    for (const a of addrs ?? []) if (!a.internal && a.mac && a.mac !== '00:00:00:00:00:00') return a.mac;
  }
  throw new ShoalError('this machine has no network interface with a MAC address: give one with --mac');
}
