// The tracker over real HTTP on loopback: what it admits and refuses, and the peers it hands out.
import { test } from '../suite.js';
import * as assert from 'uvu/assert';
import bencode from 'bencode';
import { z } from 'zod';
import { issueSwarmKey } from '../../shared/keys/swarm-key.js';
import { NODE_KEY_SCOPE } from '../../shared/keys/lab-secret.js';
import { publishedFromList } from '../../tracker/published.js';
import { startTracker, type Tracker } from '../../tracker/server.js';

const SECRET = 'test-secret';
const IMAGE = '1'.repeat(40);
const UNKNOWN = '2'.repeat(40);
const HOUR = 3_600_000;
let tracker: Tracker;

function binaryParam(hex: string): string {
  return [...Buffer.from(hex, 'hex')].map((b) => `%${b.toString(16).padStart(2, '0')}`).join('');
}

/** An announce's answer as bencode decodes it (strings as bytes): the fields these tests read. */
const AnnounceReplySchema = z.object({
  'failure reason': z.instanceof(Uint8Array).optional(),
  interval: z.number().optional(),
  peers: z.array(z.object({ port: z.number() })).optional(),
});
type AnnounceReply = z.infer<typeof AnnounceReplySchema>;

async function announce(opts: { infoHash?: string; key?: string; peer: number; left?: number; event?: string; numwant?: number }): Promise<AnnounceReply> {
  const peerId = Buffer.alloc(20, opts.peer).toString('hex');
  const query = `info_hash=${binaryParam(opts.infoHash ?? IMAGE)}&peer_id=${binaryParam(peerId)}&port=${6000 + opts.peer}&left=${opts.left ?? 100}&compact=0${opts.event ? `&event=${opts.event}` : ''}${opts.numwant ? `&numwant=${opts.numwant}` : ''}&key=standardclientkey`;
  const path = opts.key === undefined ? '/announce' : `/${opts.key}/announce`;
  const res = await fetch(`${tracker.url}${path}?${query}`);
  return AnnounceReplySchema.parse(bencode.decode(new Uint8Array(await res.arrayBuffer())));
}
const failure = (r: AnnounceReply): string => Buffer.from(r['failure reason'] ?? '').toString();
const key = (holder: string, hash = IMAGE, expiresAt = Date.now() + HOUR) => issueSwarmKey(SECRET, hash, holder, expiresAt);

test.before(async () => {
  tracker = await startTracker({ secret: SECRET, published: publishedFromList([IMAGE]), host: '127.0.0.1', busyIntervalMs: 5_000, idleIntervalMs: 600_000 });
});
test.after(() => tracker.close());

test('refuses an unknown image, a missing, wrong or expired key', async () => {
  assert.match(failure(await announce({ infoHash: UNKNOWN, key: key('pc-1', UNKNOWN), peer: 1 })), /unknown image/);
  assert.match(failure(await announce({ peer: 1 })), /no swarm key/);
  assert.match(failure(await announce({ key: key('pc-1', UNKNOWN), peer: 1 })), /not valid for this image/);
  assert.match(failure(await announce({ key: key('pc-1', IMAGE, Date.now() - 1000), peer: 1 })), /expired/);
  assert.match(failure(await announce({ key: 'garbage', peer: 1 })), /malformed/);
  assert.equal(tracker.swarms(), [], 'no refused peer made it into a swarm');
});

test('admits keyed peers, seeders first, and re-announces often while PCs are busy', async () => {
  const seeder = await announce({ key: key('seeder-a'), peer: 9, left: 0, event: 'started' });
  assert.is(seeder['failure reason'], undefined);
  assert.is(seeder.interval, 600, 'nobody downloading yet: idle interval');
  await announce({ key: key('pc-1'), peer: 1, event: 'started' });
  const r = await announce({ key: key('pc-2'), peer: 2, event: 'started' });
  assert.is(r.interval, 5, 'busy interval');
  const ports = r.peers!.map((p) => p.port);
  assert.equal(ports, [6009, 6001], 'the seeder first, never the asker');
  await announce({ key: key('pc-1'), peer: 1, left: 0, event: 'completed' });
  assert.equal(tracker.swarms(), [{ infoHash: IMAGE, seeders: 2, leechers: 1, completed: 1 }]);
  const metrics = await (await fetch(`${tracker.url}/metrics`)).text();
  assert.match(metrics, new RegExp(`shoal_tracker_seeders\\{infohash="${IMAGE}"\\} 2`));
  assert.match(metrics, /shoal_tracker_refused\{reason="unknown image: X is not published here"\} 1/);
  const swarms = z.object({ swarms: z.array(z.object({ completed: z.number() })) }).parse(await (await fetch(`${tracker.url}/swarms`)).json());
  assert.is(swarms.swarms[0]?.completed, 1);
});

test("one key holds at most four entries in a swarm; its newest push out its oldest, nobody else's", async () => {
  const leaked = key('leaked');
  for (let peer = 20; peer < 30; peer++) await announce({ key: leaked, peer, left: 0, event: 'started' });
  const r = await announce({ key: key('pc-3'), peer: 3, event: 'started', numwant: 200 });
  const ports = r.peers!.map((p) => p.port).sort();
  assert.equal(
    ports.filter((p) => p >= 6020),
    [6026, 6027, 6028, 6029],
    "the leaked key's last four",
  );
  assert.ok(ports.includes(6009), 'the seeder keeps its place');
});

test('tells storage nodes, and only them, which addresses it admitted to which image', async () => {
  const ask = (ip: string, auth?: string, hash = IMAGE) =>
    fetch(`${tracker.url}/admitted/${hash}/${ip}`, { headers: auth ? { authorization: `Bearer ${auth}` } : {} });
  const node = issueSwarmKey(SECRET, NODE_KEY_SCOPE, 'node0', Date.now() + 60_000);
  assert.is((await ask('127.0.0.1')).status, 401, 'no key');
  assert.is((await ask('127.0.0.1', key('pc-1'))).status, 401, "a PC's key is not a node's");
  const yes = await ask('127.0.0.1', node);
  assert.is(yes.status, 200);
  assert.ok(z.object({ untilMs: z.number() }).parse(await yes.json()).untilMs > Date.now());
  assert.is((await ask('127.0.0.9', node)).status, 404, 'an address that never announced');
  assert.is((await ask('127.0.0.1', node, UNKNOWN)).status, 404, 'an image it never admitted');
});

test.run();
