/**
 * A PC in the lab's DHT (shared/swarm/lab-dht.ts): it announces its own BitTorrent port under the
 * swarm's lab name at once (so that PCs coming later can find it should the trackers go), and
 * looks peers up only while the trackers are silent: none answered lately, or none ever and one
 * already failed. While the trackers answer, the DHT costs a PC one announce every few minutes.
 */
import { startLabDht, type LabDht } from '../../shared/swarm/lab-dht.js';
import { logger } from '../../shared/log.js';

const log = logger('swarm');

/** Trackers answer a busy swarm every 10 s (tracker/server.ts): silence this long means they are down. */
export const TRACKER_SILENCE_MS = 25_000;
/** A PC that never heard a tracker and saw one fail waits this long before asking the DHT. */
export const FIRST_LOOKUP_AFTER_MS = 3_000;
const LOOKUP_EVERY_MS = 15_000;
const CHECK_EVERY_MS = 1_000;
const ANNOUNCE_EVERY_MS = 5 * 60_000;

export interface TrackerWord {
  /** Tracker announces answered so far. */
  answers(): number;
  /** Tracker announces that failed so far. */
  failures(): number;
}

/** Whether to ask the DHT now: the trackers' answers and failures, as seen at each check. */
export function trackersSilent(o: { now: number; startedAt: number; lastAnswerAt: number | undefined; failures: number }): boolean {
  if (o.lastAnswerAt !== undefined) return o.now - o.lastAnswerAt >= TRACKER_SILENCE_MS;
  return o.failures > 0 ? o.now - o.startedAt >= FIRST_LOOKUP_AFTER_MS : o.now - o.startedAt >= TRACKER_SILENCE_MS;
}

export function followLabDht(o: {
  name: string;
  /** The storage nodes' host:port (their DHT answers on their BitTorrent port's number). */
  bootstrap: string[];
  /** This PC's BitTorrent port. */
  port: number;
  trackers: TrackerWord;
  addPeer(addr: string): void;
}): { stop(): Promise<void> } {
  let dht: LabDht | undefined;
  let stopped = false;
  const startedAt = Date.now();
  let lastAnswers = o.trackers.answers();
  let lastAnswerAt: number | undefined = lastAnswers > 0 ? startedAt : undefined;
  let lastLookupAt = 0;
  let looking = false;
  const added = new Set<string>();
  const started = startLabDht({ bootstrap: o.bootstrap })
    .then(async (d) => {
      if (stopped) return d.destroy();
      dht = d;
      await d.announce(o.name, o.port).catch((err: unknown) => log.debug({ err }, 'DHT announce'));
    })
    .catch((err: unknown) => log.warn({ err: (err as Error).message }, "cannot join the lab's DHT; peers come from the trackers"));
  const announces = setInterval(() => void dht?.announce(o.name, o.port).catch(() => {}), ANNOUNCE_EVERY_MS).unref();
  const checks = setInterval(() => {
    const now = Date.now();
    const answers = o.trackers.answers();
    if (answers !== lastAnswers) {
      lastAnswers = answers;
      lastAnswerAt = now;
    }
    if (!dht || looking || now - lastLookupAt < LOOKUP_EVERY_MS) return;
    if (!trackersSilent({ now, startedAt, lastAnswerAt, failures: o.trackers.failures() })) return;
    looking = true;
    lastLookupAt = now;
    dht
      .lookup(o.name, (p) => {
        const addr = `${p.host}:${p.port}`;
        if (added.has(addr)) return;
        added.add(addr);
        o.addPeer(addr);
      })
      .then((found) => log.info({ found, peers: added.size }, 'the trackers are silent: peers from the lab DHT'))
      .catch((err: unknown) => log.debug({ err }, 'DHT lookup'))
      .finally(() => (looking = false));
  }, CHECK_EVERY_MS).unref();
  return {
    async stop() {
      stopped = true;
      clearInterval(announces);
      clearInterval(checks);
      await started;
      await dht?.destroy();
    },
  };
}
