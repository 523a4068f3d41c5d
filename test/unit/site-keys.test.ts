// Site keys as a storage node checks them (seeder/site-keys.ts): a key one site issued another
// for one image (every version, or one) opens that image and no other, works from the moment it is
// issued, is refused once the portal names it revoked, and is honoured by no node that has not
// heard from its portal yet; a swarm key for the image is not a site key.
import { test } from '../suite.js';
import * as assert from 'uvu/assert';
import { issueSwarmKey, siteReadScope } from '../../shared/keys/swarm-key.js';
import { SiteKeys } from '../../seeder/site-keys.js';

const SECRET = 'lab-secret';
const V1 = 'a'.repeat(40);
const V2 = 'b'.repeat(40);
const YEAR = 365 * 86_400_000;

const heard = (revoked: string[] = []): SiteKeys => {
  const keys = new SiteKeys(SECRET);
  keys.follow(revoked);
  return keys;
};

test('a key for every version opens each of them, and no other image', () => {
  const key = issueSwarmKey(SECRET, siteReadScope('lab'), 'site-1', Date.now() + YEAR);
  const keys = heard();
  assert.equal(keys.check('lab', V1, key), { ok: true, holder: 'site-1' });
  assert.equal(keys.check('lab', V2, key), { ok: true, holder: 'site-1' });
  const other = keys.check('win', V1, key);
  assert.ok(!other.ok && other.status === 401, JSON.stringify(other));
});

test('a key for one version opens that version only', () => {
  const key = issueSwarmKey(SECRET, siteReadScope('lab', V1), 'site-2', Date.now() + YEAR);
  assert.ok(heard().check('lab', V1, key).ok);
  const v2 = heard().check('lab', V2, key);
  assert.ok(!v2.ok && v2.status === 401);
});

test('revoked, expired, unheard, wrong secret, and a swarm key are refused with their reason', () => {
  const key = issueSwarmKey(SECRET, siteReadScope('lab'), 'site-3', Date.now() + YEAR);
  const revoked = heard(['site-3']).check('lab', V1, key);
  assert.ok(!revoked.ok && revoked.status === 403 && /revoked/.test(revoked.reason), JSON.stringify(revoked));
  const unheard = new SiteKeys(SECRET).check('lab', V1, key);
  assert.ok(!unheard.ok && unheard.status === 403 && /not heard from its portal/.test(unheard.reason));
  const old = heard().check('lab', V1, issueSwarmKey(SECRET, siteReadScope('lab'), 'site-4', Date.now() - 1000));
  assert.ok(!old.ok && old.status === 401 && /expired/.test(old.reason), JSON.stringify(old));
  const forged = heard().check('lab', V1, issueSwarmKey('another-secret', siteReadScope('lab'), 'site-5', Date.now() + YEAR));
  assert.ok(!forged.ok && forged.status === 401);
  const swarm = heard().check('lab', V1, issueSwarmKey(SECRET, V1, 'site-6', Date.now() + YEAR));
  assert.ok(!swarm.ok && swarm.status === 401, 'a swarm key for the image is not a site key');
  const holder = heard().check('lab', V1, issueSwarmKey(SECRET, siteReadScope('lab'), 'node0', Date.now() + YEAR));
  assert.ok(!holder.ok && /not a site key/.test(holder.reason), 'a site-read key must be held by a site');
});

test.run();
