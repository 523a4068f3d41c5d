/**
 * Which addresses the tracker let into which swarm, and with which key. A seeder serves a peer
 * only when it holds a key for that image (seeder/admission.ts); a standard BitTorrent client shows
 * its key to the tracker alone, so the seeders ask the tracker (GET /admitted/INFOHASH/IP).
 *
 * One key holds at most MAX_PEERS_PER_KEY entries in a swarm: a further announce with it pushes
 * out that key's oldest entry, so a leaked key can neither crowd out the seeders (the swarm's peer
 * list is bounded) nor admit more than a few addresses.
 */
export const MAX_PEERS_PER_KEY = 4;
/** How long an announce admits its address; PCs re-announce every few seconds while they work. */
export const ADMISSION_MS = 2 * 3_600_000;
const PRUNE_ABOVE = 10_000;

interface Admission {
  untilMs: number;
  holder: string;
}

/** An IPv4 address as the seeder sees it, whether the socket was v4 or v6. */
export const plainIp = (ip: string): string => ip.replace(/^::ffff:/, '');

export class AdmittedPeers {
  /** `infoHash holder` → that key's peer entries (ip:port), oldest first. */
  private readonly byKey = new Map<string, { ids: string[]; seenMs: number }>();
  /** infoHash → ip → admission. */
  private readonly admitted = new Map<string, Map<string, Admission>>();

  /**
   * An announce the tracker took: admits `ip` until the key expires (or ADMISSION_MS), and returns
   * the entries of the same key it pushes out of the swarm.
   */
  note(infoHash: string, holder: string, id: string, ip: string, keyExpiresAt: number, now = Date.now()): string[] {
    const k = `${infoHash} ${holder}`;
    const ids = (this.byKey.get(k)?.ids ?? []).filter((x) => x !== id);
    ids.push(id);
    const out = ids.splice(0, Math.max(0, ids.length - MAX_PEERS_PER_KEY));
    this.byKey.set(k, { ids, seenMs: now });
    const swarm = this.admitted.get(infoHash) ?? new Map<string, Admission>();
    this.admitted.set(infoHash, swarm);
    swarm.set(plainIp(ip), { untilMs: Math.min(keyExpiresAt, now + ADMISSION_MS), holder });
    const kept = new Set(ids.map(ipOfId));
    for (const gone of out) {
      const gip = ipOfId(gone);
      if (!kept.has(gip) && swarm.get(gip)?.holder === holder) swarm.delete(gip);
    }
    if (this.byKey.size > PRUNE_ABOVE) this.prune(now);
    return out;
  }

  /** A peer that said it stopped. */
  stopped(infoHash: string, holder: string, id: string): void {
    const entry = this.byKey.get(`${infoHash} ${holder}`);
    if (entry) entry.ids = entry.ids.filter((x) => x !== id);
  }

  /** Until when `ip` may be served `infoHash` (ms), or undefined. */
  until(infoHash: string, ip: string, now = Date.now()): number | undefined {
    const a = this.admitted.get(infoHash.toLowerCase())?.get(plainIp(ip));
    return a && a.untilMs > now ? a.untilMs : undefined;
  }

  private prune(now: number): void {
    for (const [k, v] of this.byKey) if (v.seenMs < now - ADMISSION_MS) this.byKey.delete(k);
    for (const [h, swarm] of this.admitted) {
      for (const [ip, a] of swarm) if (a.untilMs <= now) swarm.delete(ip);
      if (!swarm.size) this.admitted.delete(h);
    }
  }
}

/** "10.0.0.5:6881" → "10.0.0.5"; "[::1]:6881" → "::1". */
function ipOfId(id: string): string {
  return plainIp(id.replace(/:\d+$/, '').replace(/^\[|\]$/g, ''));
}
