/**
 * Who this node's BitTorrent port serves: only addresses that showed a key for the image, either
 * to this node's HTTP side (a keyed web seed or unicast read, or a Shoal client's knock before it
 * connects) or to a tracker, which a standard client with a `shoal torrent` file talks to alone.
 * An address the node has not heard of is asked about at the trackers, for a few seconds (the PC's
 * announce may still be on its way), and refused after that.
 */
import { issueSwarmKey } from '../shared/keys/swarm-key.js';
import { NODE_KEY_SCOPE } from '../shared/keys/lab-secret.js';
import { logger } from '../shared/log.js';

const log = logger('seeder');
/** How long a new peer may wait for its admission before the node hangs up. */
export const ADMISSION_WAIT_MS = 5_000;
const ASK_EVERY_MS = 500;
const ASK_TIMEOUT_MS = 2_000;
const PRUNE_ABOVE = 20_000;

const plainIp = (ip: string): string => ip.replace(/^::ffff:/, '');

export class PeerAdmission {
  /** `infoHash ip` → admitted until (ms). */
  private readonly admitted = new Map<string, number>();
  /** One question to the trackers at a time per peer, however many connections it opens. */
  private readonly asking = new Map<string, Promise<boolean>>();
  refused = 0;

  constructor(private readonly opts: { trackers: string[]; secret: string; name: string; waitMs?: number }) {}

  /** An address that showed a key for `infoHash`, valid until `untilMs`. */
  admit(infoHash: string, ip: string, untilMs: number): void {
    const k = `${infoHash.toLowerCase()} ${plainIp(ip)}`;
    if ((this.admitted.get(k) ?? 0) < untilMs) this.admitted.set(k, untilMs);
    if (this.admitted.size > PRUNE_ABOVE) {
      const now = Date.now();
      for (const [key, until] of this.admitted) if (until <= now) this.admitted.delete(key);
    }
  }

  isAdmitted(infoHash: string, ip: string, now = Date.now()): boolean {
    return (this.admitted.get(`${infoHash.toLowerCase()} ${plainIp(ip)}`) ?? 0) > now;
  }

  /** Whether to serve `ip` this image: at once when known, else after asking (bounded by waitMs). */
  async admits(infoHash: string, ip: string): Promise<boolean> {
    if (this.isAdmitted(infoHash, ip)) return true;
    const k = `${infoHash.toLowerCase()} ${plainIp(ip)}`;
    let pending = this.asking.get(k);
    if (!pending) {
      pending = this.waitFor(infoHash.toLowerCase(), plainIp(ip)).finally(() => this.asking.delete(k));
      this.asking.set(k, pending);
    }
    const ok = await pending;
    if (!ok) this.refused++;
    return ok;
  }

  private async waitFor(infoHash: string, ip: string): Promise<boolean> {
    const deadline = Date.now() + (this.opts.waitMs ?? ADMISSION_WAIT_MS);
    for (let round = 0; Date.now() < deadline && round < 100; round++) {
      if (this.isAdmitted(infoHash, ip)) return true;
      const until = await this.askTrackers(infoHash, ip);
      if (until) {
        this.admit(infoHash, ip, until);
        return true;
      }
      if (this.isAdmitted(infoHash, ip)) return true;
      await new Promise((r) => setTimeout(r, Math.min(ASK_EVERY_MS, Math.max(0, deadline - Date.now()))));
    }
    return this.isAdmitted(infoHash, ip);
  }

  private async askTrackers(infoHash: string, ip: string): Promise<number | undefined> {
    if (!this.opts.trackers.length) return undefined;
    const auth = `Bearer ${issueSwarmKey(this.opts.secret, NODE_KEY_SCOPE, this.opts.name, Date.now() + 60_000)}`;
    const answers = await Promise.all(
      this.opts.trackers.map(async (t) => {
        try {
          const res = await fetch(`${t.replace(/\/+$/, '')}/admitted/${infoHash}/${ip}`, {
            headers: { authorization: auth },
            signal: AbortSignal.timeout(ASK_TIMEOUT_MS),
          });
          if (res.status === 404) return undefined;
          if (!res.ok) throw new Error(`HTTP ${res.status} ${await res.text()}`);
          return ((await res.json()) as { untilMs: number }).untilMs;
        } catch (err) {
          log.warn({ tracker: t, err: (err as Error).message }, 'cannot ask the tracker whom it admitted');
          return undefined;
        }
      }),
    );
    return answers.find((u): u is number => typeof u === 'number' && u > Date.now());
  }
}
