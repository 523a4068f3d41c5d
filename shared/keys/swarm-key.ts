/**
 * Swarm keys: what a peer shows the tracker to be let into an image's swarm. The portal issues one
 * per host and task; the tracker (and any tracker on a storage node) checks it with the lab secret
 * alone, without asking the portal, so trackers keep working while the portal is down.
 * A key is `<holder>.<expires>.<mac>`: who holds it, until when (Unix seconds), and an HMAC over
 * both and the image's infohash, so a key for one image opens no other.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

const HOLDER = /^[A-Za-z0-9-]{1,64}$/;
const MAC_BYTES = 16;

export type KeyCheck = { ok: true; holder: string; expiresAt: number } | { ok: false; reason: string };

function mac(secret: string, infoHash: string, holder: string, expires: number): Buffer {
  // Infohashes are hex in either case; other scopes (an upload's image name) are taken as they are.
  const scope = /^[0-9a-fA-F]{40}$/.test(infoHash) ? infoHash.toLowerCase() : infoHash;
  return createHmac('sha256', secret).update(`shoal-swarm-key/1\n${scope}\n${holder}\n${expires}`).digest().subarray(0, MAC_BYTES);
}

/** A key for `holder` (a host's MAC with dashes, or a seeder's name) to `infoHash` until `expiresAt` (ms). */
export function issueSwarmKey(secret: string, infoHash: string, holder: string, expiresAt: number): string {
  if (!HOLDER.test(holder)) throw new Error(`swarm key holder "${holder}" must be 1-64 letters, digits or dashes`);
  const expires = Math.ceil(expiresAt / 1000);
  return `${holder}.${expires}.${mac(secret, infoHash, holder, expires).toString('base64url')}`;
}

export function checkSwarmKey(secret: string, infoHash: string, key: string | undefined, now = Date.now()): KeyCheck {
  if (!key) return { ok: false, reason: 'no swarm key in the announce URL (ask the portal for a task or a .torrent)' };
  const [holder, expiresText, sig, ...rest] = key.split('.');
  const expires = Number(expiresText);
  if (rest.length || !holder || !HOLDER.test(holder) || !Number.isInteger(expires) || !sig) return { ok: false, reason: 'malformed swarm key' };
  const given = Buffer.from(sig, 'base64url');
  const want = mac(secret, infoHash, holder, expires);
  if (given.length !== want.length || !timingSafeEqual(given, want)) return { ok: false, reason: 'swarm key not valid for this image' };
  if (expires * 1000 < now) return { ok: false, reason: `swarm key expired at ${new Date(expires * 1000).toISOString()}` };
  return { ok: true, holder, expiresAt: expires * 1000 };
}

/** A MAC address as a key holder: lower case, dashes. */
export function holderOfMac(mac: string): string {
  return mac.toLowerCase().replace(/:/g, '-');
}

/**
 * The scope upload keys are signed for (in place of an infohash): the capture of image NAME as the
 * version the portal assigned, and no other (a key kept after its task cannot publish a new version).
 */
export const uploadKeyScope = (name: string, version: number): string => `upload:${name}:v${version}`;

/**
 * An image's web seed URL on a storage node, with a key in its path: BEP 19 clients append the
 * torrent's name and file ("vN/d0p1.pieces") and carry nothing else, so the key rides in the path.
 */
export const keyedWebSeed = (httpUrl: string, key: string, image: string): string =>
  `${httpUrl.replace(/\/+$/, '')}/k/${key}/images/${encodeURIComponent(image)}/`;

/** Where a client knocks with that key before it connects to the node's BitTorrent port. */
export const admitUrl = (webSeed: string, version: number): string => `${webSeed}v${version}/admit`;

/** A keyed URL as it may be shown in a log or an error: the key left out. */
export const withoutKey = (url: string): string => url.replace(/\/k\/[A-Za-z0-9._-]+\//, '/k/…/');

/**
 * The scope of a read key one site issues another for pulling an image from its storage nodes
 * (portal/images/site-keys.ts): every version of NAME, or only the version of that infohash. Not an
 * infohash, so a site key opens no swarm and no tracker; the seeders take it for HTTP reads only,
 * and only when its holder is not on the portal's list of revoked keys (seeder/site-keys.ts).
 */
export const siteReadScope = (name: string, infoHash?: string): string => `site-read:${name}${infoHash ? `:${infoHash.toLowerCase()}` : ''}`;

/** A site key's holder: `site-<id>`, the id of its row on the issuing portal. */
export const SITE_KEY_HOLDER = /^site-[1-9][0-9]{0,14}$/;
