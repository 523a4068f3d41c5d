/**
 * The speed of this PC's network link, as its NIC reports it (/sys/class/net/IF/speed, in Mbit/s):
 * what a PC pacing its swarm uploads can send without the link itself sharing the bytes out evenly
 * over every peer (see shared/upload-pacer.ts for why an even share is slow). Virtual NICs report
 * nothing or -1, and then nothing is known.
 */
import { readFileSync } from 'node:fs';
import { networkInterfaces } from 'node:os';

/**
 * TCP/IP and Ethernet headers take about 5 % of a full-size frame: pacing the payload at the
 * link's raw rate would queue the difference in the kernel, where every socket shares it evenly.
 */
const PAYLOAD_SHARE = 0.95;

/** Payload bytes/s the link of the interface carrying `mac` (or the first real one) can send; undefined when unknown. */
export function linkPayloadBytesPerSec(mac?: string, sysfs = '/sys/class/net'): number | undefined {
  const ifaces = Object.entries(networkInterfaces());
  const pick = ifaces.find(([, addrs]) => addrs?.some((a) => !a.internal && (mac ? a.mac.toLowerCase() === mac.toLowerCase() : a.mac !== '00:00:00:00:00:00')));
  if (!pick) return undefined;
  let mbit: number;
  try {
    mbit = Number(readFileSync(`${sysfs}/${pick[0]}/speed`, 'utf8').trim());
  } catch {
    return undefined; // no such file, or EINVAL: a link that is down or virtual
  }
  return Number.isFinite(mbit) && mbit > 0 ? Math.floor(((mbit * 1e6) / 8) * PAYLOAD_SHARE) : undefined;
}
