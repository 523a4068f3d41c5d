/**
 * Site keys on a storage node: read keys the portal issued another Shoal site for one image (every
 * version, or one), to pull it over this node's HTTP side (portal/images/site-key-routes.ts). They
 * are checked like every key, with the lab secret, for the scope siteReadScope(image[, infohash]);
 * and a valid one is honoured only while its holder is on the portal's list of live site keys
 * (each heartbeat reply brings it), so a revoked key is refused within one heartbeat. Until the
 * first reply the list is empty: a node that never heard its portal honours no site key.
 */
import { checkSwarmKey, siteReadScope, SITE_KEY_HOLDER } from '../shared/keys/swarm-key.js';

export type SiteKeyCheck = { ok: true; holder: string } | { ok: false; status: 401 | 403; reason: string };

export class SiteKeys {
  private live = new Set<string>();

  constructor(private readonly secret: string) {}

  /** The portal's list of live site keys' holders. */
  follow(holders: string[]): void {
    this.live = new Set(holders);
  }

  /** Whether `key` is a live site key for reading `name` at the version of `infoHash`. */
  check(name: string, infoHash: string, key: string): SiteKeyCheck {
    let expired: string | undefined;
    for (const scope of [siteReadScope(name), siteReadScope(name, infoHash)]) {
      const c = checkSwarmKey(this.secret, scope, key);
      if (!c.ok) {
        if (c.reason.includes('expired')) expired = c.reason.replace('swarm key', 'site key');
        continue;
      }
      if (!SITE_KEY_HOLDER.test(c.holder)) return { ok: false, status: 401, reason: 'not a site key' };
      if (!this.live.has(c.holder)) return { ok: false, status: 403, reason: `site key ${c.holder} was revoked at the site that issued it` };
      return { ok: true, holder: c.holder };
    }
    return { ok: false, status: 401, reason: expired ?? 'the key is not valid for this image' };
  }
}
