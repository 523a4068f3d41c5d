import { test } from '../suite.js';
import * as assert from 'uvu/assert';
import { checkSwarmKey, holderOfMac, issueSwarmKey } from '../../shared/keys/swarm-key.js';
import { orderPeers } from '../../tracker/peer-order.js';
import { subnetOf } from '../../shared/lan-address.js';

const SECRET = 'lab-secret';
const IMAGE = 'a'.repeat(40);
const OTHER = 'b'.repeat(40);
const HOUR = 3_600_000;

test('a key opens its own image until it expires', () => {
  const key = issueSwarmKey(SECRET, IMAGE, holderOfMac('52:54:00:AB:CD:EF'), Date.now() + HOUR);
  const ok = checkSwarmKey(SECRET, IMAGE, key);
  assert.ok(ok.ok);
  assert.is(ok.ok && ok.holder, '52-54-00-ab-cd-ef');
  assert.match(key, /^[A-Za-z0-9._-]+$/, 'path-safe');
});

test('a key is refused for another image, with another secret, when expired, missing or mangled', () => {
  const key = issueSwarmKey(SECRET, IMAGE, 'pc-1', Date.now() + HOUR);
  const reason = (k: string | undefined, hash = IMAGE, secret = SECRET, now = Date.now()) => {
    const r = checkSwarmKey(secret, hash, k, now);
    return r.ok ? 'ok' : r.reason;
  };
  assert.match(reason(key, OTHER), /not valid for this image/);
  assert.match(reason(key, IMAGE, 'another-secret'), /not valid/);
  assert.match(reason(key, IMAGE, SECRET, Date.now() + 2 * HOUR), /expired/);
  assert.match(reason(undefined), /no swarm key/);
  assert.match(reason('pc-1.notanumber.xyz'), /malformed/);
  assert.match(reason(key.replace('pc-1', 'pc-2')), /not valid/, 'the holder is signed');
  const [h, e, s] = key.split('.');
  assert.match(reason(`${h}.${Number(e) + 3600}.${s}`), /not valid/, 'the expiry is signed');
  assert.throws(() => issueSwarmKey(SECRET, IMAGE, 'a/../b', Date.now()), /letters, digits or dashes/);
});

test('peers: own subnet first, finished before unfinished, never the asker itself', () => {
  const peer = (ip: string, id: string, complete: boolean) => ({ ip, port: 6881, peerId: id, complete });
  const peers = [
    peer('10.1.2.50', 'far-done', true),
    peer('10.1.1.20', 'near-busy', false),
    peer('10.1.1.10', 'self', false),
    peer('10.1.2.51', 'far-busy', false),
    peer('10.1.1.30', 'near-done', true),
  ];
  const got = orderPeers(peers, { ip: '10.1.1.10', peerId: 'self' }, 50).map((p) => p.peerId);
  assert.equal(got, ['near-done', 'near-busy', 'far-done', 'far-busy']);
  assert.is(orderPeers(peers, { ip: '10.1.1.10', peerId: 'self' }, 2).length, 2);
  assert.is(subnetOf('::ffff:192.168.7.9'), '192.168.7');
});

test.run();
