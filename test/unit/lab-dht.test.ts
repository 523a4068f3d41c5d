/**
 * The lab's DHT on loopback, real UDP sockets: a storage node's DHT node alone at first, PCs
 * bootstrapped from it, peers found under the lab-derived name and nothing under the infohash.
 */
import { suite } from '../suite.js';
import * as assert from 'uvu/assert';
import { labDhtName, parseDhtNode, startLabDht, type LabDht, type LabDhtPeer } from '../../shared/swarm/lab-dht.js';
import { FIRST_LOOKUP_AFTER_MS, TRACKER_SILENCE_MS, trackersSilent } from '../../client/swarm/lab-dht-peers.js';

const T = suite('lab DHT');
const INFO_HASH = 'c0f9b30ce202c1475b51eca7b5030842b4a32d26';

T('the name under which a swarm is looked up depends on the lab secret and hides the infohash', () => {
  const a = labDhtName('secret one', INFO_HASH);
  assert.match(a, /^[0-9a-f]{40}$/);
  assert.is.not(a, INFO_HASH);
  assert.is(labDhtName('secret one', INFO_HASH.toUpperCase()), a, 'the infohash case does not matter');
  assert.is.not(labDhtName('secret two', INFO_HASH), a, 'another lab, another name');
  assert.equal(parseDhtNode('10.0.0.5:6881'), { host: '10.0.0.5', port: 6881 });
  assert.is(parseDhtNode('10.0.0.5'), undefined);
  assert.is(parseDhtNode('10.0.0.5:0'), undefined);
});

T('PCs bootstrapped from a storage node find each other under the lab name, and only there', async () => {
  const nodes: LabDht[] = [];
  try {
    const seeder = await startLabDht({ bootstrap: [], host: '127.0.0.1', advertise: '127.0.0.1' });
    nodes.push(seeder);
    const boot = [`127.0.0.1:${seeder.address().port}`];
    const name = labDhtName('lab secret', INFO_HASH);
    await seeder.announce(name, 6881);
    const pcs: LabDht[] = [];
    for (let i = 0; i < 3; i++) {
      const pc = await startLabDht({ bootstrap: boot, host: '127.0.0.1', advertise: '127.0.0.1' });
      nodes.push(pc);
      pcs.push(pc);
    }
    await pcs[0]!.announce(name, 7001);
    await pcs[1]!.announce(name, 7002);
    const found: LabDhtPeer[] = [];
    await pcs[2]!.lookup(name, (p) => found.push(p));
    const ports = found.map((p) => p.port).sort();
    assert.equal(ports, [6881, 7001, 7002], 'the storage node and both PCs that announced');
    assert.ok(
      found.every((p) => p.host === '127.0.0.1'),
      'at the addresses their announces came from',
    );
    // Another lab on the same DHT (another secret) deploying the same image is not found under
    // this lab's name, nor this lab's PCs under its.
    const otherName = labDhtName('another lab', INFO_HASH);
    await pcs[0]!.announce(otherName, 7100);
    const other: LabDhtPeer[] = [];
    await pcs[1]!.lookup(otherName, (p) => other.push(p));
    assert.equal(
      other.map((p) => p.port),
      [7100],
      "the other lab's name lists only its own peer",
    );
    const again: LabDhtPeer[] = [];
    await pcs[2]!.lookup(name, (p) => again.push(p));
    assert.not.ok(
      again.some((p) => p.port === 7100),
      "this lab's name does not list the other lab's peer",
    );
  } finally {
    await Promise.all(nodes.map((n) => n.destroy()));
  }
});

T('a PC asks the DHT only while the trackers are silent', () => {
  const startedAt = 1_000_000;
  const at = (ms: number, lastAnswerAt: number | undefined, failures: number) => trackersSilent({ now: startedAt + ms, startedAt, lastAnswerAt, failures });
  assert.not.ok(at(60_000, startedAt + 55_000, 3), 'a tracker answered 5 s ago: failures of another tracker do not matter');
  assert.ok(at(60_000, startedAt + 60_000 - TRACKER_SILENCE_MS, 0), 'no answer for the silence time');
  assert.not.ok(at(1_000, undefined, 1), 'a first failure: wait a moment');
  assert.ok(at(FIRST_LOOKUP_AFTER_MS, undefined, 1), 'never answered, one failed: the DHT soon');
  assert.not.ok(at(FIRST_LOOKUP_AFTER_MS, undefined, 0), 'never answered, none failed yet: the announce may still come');
  assert.ok(at(TRACKER_SILENCE_MS, undefined, 0), 'never a word for the silence time');
});

T.run();
