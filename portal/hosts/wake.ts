/**
 * Wake-on-LAN: the magic packet (six 0xFF bytes, then the MAC sixteen times) sent as a UDP
 * broadcast to the subnet each PC was last seen on (from the address its client registered with),
 * port 9 (discard, what most tools and NIC firmware use). A room of 200 PCs powering on at once
 * draws a current spike that trips breakers, so the packets are staggered at a rate the task sets.
 */
import { createSocket, type Socket } from 'node:dgram';
import { logger } from '../../shared/log.js';
import { ShoalError } from '../../shared/errors.js';
import type { Inventory } from '../../shared/http/api.js';
import { WAKE_PORT } from '../config.js';

const log = logger('wake');
export const DEFAULT_WAKE_PER_SECOND = 5;
/** Why a host gets no packet, for its log and the API's answer. */
export const NO_SUBNET = 'its subnet is not known yet (it has not registered from the network): not woken';
export const WAKE_OFF = 'the portal sends no Wake-on-LAN packets (--no-wake): not woken';

export function magicPacket(mac: string): Buffer {
  const bytes = mac.split(/[:-]/).map((h) => Number.parseInt(h, 16));
  if (bytes.length !== 6 || bytes.some((b) => !Number.isInteger(b) || b < 0 || b > 255)) throw new ShoalError(`not a MAC address: ${mac}`);
  return Buffer.concat([Buffer.alloc(6, 0xff), ...Array.from({ length: 16 }, () => Buffer.from(bytes))]);
}

/** The broadcast address of an IPv4 interface address with its prefix ("10.1.2.3/23" → "10.1.3.255"). */
export function broadcastOf(cidr: string): string | undefined {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d{1,2})$/.exec(cidr);
  if (!m) return undefined;
  const octets = m.slice(1, 5).map(Number);
  const prefix = Number(m[5]);
  if (octets.some((o) => o > 255) || prefix > 32 || prefix < 8) return undefined;
  const addr = octets.reduce((a, o) => (a << 8) | o, 0) >>> 0;
  const host = prefix === 32 ? 0 : 0xffffffff >>> prefix;
  const b = (addr | host) >>> 0;
  return [24, 16, 8, 0].map((s) => (b >>> s) & 255).join('.');
}

/**
 * Where to wake a host: the subnet broadcast of the interface with its MAC, as its client last
 * registered it; undefined for a host never seen on the network (a guess such as 255.255.255.255
 * would go out on whatever network the server's default route is, not necessarily the lab's).
 */
export function wakeAddressOf(mac: string, inventory: Inventory | string | null | undefined): string | undefined {
  const inv: Inventory | undefined = typeof inventory === 'string' ? (JSON.parse(inventory) as Inventory) : (inventory ?? undefined);
  const nic = inv?.nics?.find((n) => n.mac.toLowerCase() === mac.toLowerCase() && n.cidr);
  return nic?.cidr ? broadcastOf(nic.cidr) : undefined;
}

export interface WakeTarget {
  mac: string;
  address: string;
}

export interface WakeOptions {
  perSecond: number;
  port?: number;
  /** Called after each packet (the portal logs it on the host's task). */
  sent?: (t: WakeTarget) => void | Promise<void>;
  signal?: AbortSignal;
}

/**
 * Sends each target its packet, `perSecond` a second; resolves with how many went out. Bounded by
 * the list: one packet each (NICs take the first one; a PC still off is woken again by the admin).
 */
export async function wakeHosts(targets: WakeTarget[], o: WakeOptions): Promise<number> {
  if (!targets.length) return 0;
  const gapMs = 1000 / Math.max(0.01, o.perSecond);
  const socket: Socket = createSocket('udp4');
  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject);
    socket.bind(0, () => {
      socket.off('error', reject);
      socket.setBroadcast(true);
      resolve();
    });
  });
  let sent = 0;
  const started = Date.now();
  try {
    for (const [i, t] of targets.entries()) {
      if (o.signal?.aborted) break;
      // Paced against the start, so a slow send does not stretch the whole room's wake.
      const due = started + i * gapMs;
      if (due > Date.now()) await new Promise((r) => setTimeout(r, due - Date.now()));
      try {
        await new Promise<void>((resolve, reject) => socket.send(magicPacket(t.mac), o.port ?? WAKE_PORT, t.address, (err) => (err ? reject(err) : resolve())));
        sent++;
        await o.sent?.(t);
      } catch (err) {
        log.warn({ mac: t.mac, address: t.address, err: (err as Error).message }, 'wake-on-LAN packet not sent');
      }
    }
  } finally {
    socket.close();
  }
  log.info({ sent, of: targets.length, perSecond: o.perSecond, seconds: Math.round((Date.now() - started) / 100) / 10 }, 'wake-on-LAN packets sent');
  return sent;
}

/** The portal's wakes in progress: started without holding up the request, stopped with the portal. */
export class Wakes {
  private readonly stop = new AbortController();
  private readonly running = new Set<Promise<number>>();

  start(targets: WakeTarget[], o: Omit<WakeOptions, 'signal'>): void {
    const p = wakeHosts(targets, { ...o, signal: this.stop.signal }).catch((err: Error) => {
      log.warn({ err: err.message }, 'wake-on-LAN failed');
      return 0;
    });
    this.running.add(p);
    void p.finally(() => this.running.delete(p));
  }

  async close(): Promise<void> {
    this.stop.abort();
    await Promise.all(this.running);
  }
}
