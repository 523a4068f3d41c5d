/**
 * Site keys on a storage node: read keys the portal issued another Shoal site for one image (every
 * version, or one), to pull it over this node's HTTP side (portal/images/site-key-routes.ts). They
 * are checked like every key, with the lab secret alone, for the scope siteReadScope(image[,
 * infohash]), so a key just issued works at once; one revoked is refused once the portal's list of
 * revoked keys names it (each heartbeat reply brings the list). Until the first reply the node
 * honours no site key: a node restarted does not serve a revoked key before it has heard the list.
 */
import { checkSwarmKey, siteReadScope, SITE_KEY_HOLDER } from '../shared/keys/swarm-key.js';

export type SiteKeyCheck = { ok: true; holder: string } | { ok: false; status: 401 | 403; reason: string };

export class SiteKeys {
  private revoked: Set<string> | undefined;

  constructor(private readonly secret: string) {}

  /** The portal's list of revoked site keys' holders. */
  follow(revoked: string[]): void {
    this.revoked = new Set(revoked);
  }

  /** Whether `key` is a site key, not revoked, for reading `name` at the version of `infoHash`. */
  check(name: string, infoHash: string, key: string): SiteKeyCheck {
    let expired: string | undefined;
    for (const scope of [siteReadScope(name), siteReadScope(name, infoHash)]) {
      const c = checkSwarmKey(this.secret, scope, key);
      if (!c.ok) {
        if (c.reason.includes('expired')) expired = c.reason.replace('swarm key', 'site key');
        continue;
      }
      if (!SITE_KEY_HOLDER.test(c.holder)) return { ok: false, status: 401, reason: 'not a site key' };
      if (!this.revoked) return { ok: false, status: 403, reason: 'this storage node has not heard from its portal yet: ask again in a few seconds' };
      if (this.revoked.has(c.holder)) return { ok: false, status: 403, reason: `site key ${c.holder} was revoked at the site that issued it` };
      return { ok: true, holder: c.holder };
    }
    return { ok: false, status: 401, reason: expired ?? 'the key is not valid for this image' };
  }
}
