/**
 * Which infohashes the tracker admits: those of images the portal has published. The tracker asks
 * the portal (GET /api/v1/swarm/published) and keeps the answer a few seconds; an infohash it does
 * not know makes it ask again at once (rate-limited), so a freshly published image is admitted on
 * its first announce. When the portal cannot be reached the last answer stands.
 */
import { API } from '../shared/http/api.js';
import { PortalClient } from '../shared/http/portal-client.js';
import { PublishedSchema } from '../shared/http/portal-contract.js';
import { logger } from '../shared/log.js';

export interface PublishedImages {
  has(infoHash: string): Promise<boolean>;
}

const log = logger('tracker');
const FRESH_MS = 5_000;
const MISS_RETRY_MS = 1_000;

export function publishedFromList(infoHashes: Iterable<string>): PublishedImages {
  const set = new Set([...infoHashes].map((h) => h.toLowerCase()));
  return { has: async (h) => set.has(h.toLowerCase()) };
}

export function publishedFromPortal(portalUrl: string): PublishedImages {
  const portal = new PortalClient({ url: portalUrl, timeoutMs: 5_000 });
  let known = new Set<string>();
  let fetchedAt = 0;
  let inFlight: Promise<void> | undefined;
  const refresh = (): Promise<void> =>
    (inFlight ??= (async () => {
      try {
        const body = await portal.get(PublishedSchema, `${API}/swarm/published`);
        known = new Set(body.infoHashes.map((h) => h.toLowerCase()));
      } catch (err) {
        log.warn({ err: (err as Error).message, portalUrl }, 'cannot read the published images from the portal; keeping the last list');
      } finally {
        fetchedAt = Date.now();
        inFlight = undefined;
      }
    })());
  return {
    async has(infoHash) {
      const h = infoHash.toLowerCase();
      const age = Date.now() - fetchedAt;
      if (age > FRESH_MS || (!known.has(h) && age > MISS_RETRY_MS)) await refresh();
      return known.has(h);
    },
  };
}
