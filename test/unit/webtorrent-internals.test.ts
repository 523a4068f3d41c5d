// The one door to webtorrent's private members: open on the pinned version, and a loud
// "webtorrent changed" naming the member when it is not there (what an upgrade would meet).
import { test } from '../suite.js';
import * as assert from 'uvu/assert';
import WebTorrent, { type Torrent } from 'webtorrent';
import { clientThrottleGroups, peerPrototype, pieceClass, torrentInternals } from '../../shared/webtorrent/internals.js';

test('the pinned webtorrent has every private member Shoal reaches for', async () => {
  const client = new WebTorrent({ dht: false, lsd: false, utp: false, natUpnp: false, natPmp: false, tracker: false, torrentPort: 0 });
  try {
    const torrent = client.add(`magnet:?xt=urn:btih:${'ab'.repeat(20)}`, { path: '/nonexistent-shoal-test' });
    const t = torrentInternals(torrent);
    assert.ok(Array.isArray(t.wires) && Array.isArray(t.pieces));
    assert.ok(['_request', '_select', '_update', '_updateWire', '_addPeer'].every((m) => typeof (t as unknown as Record<string, unknown>)[m] === 'function'));
    assert.type(clientThrottleGroups(client).down, 'object');
    assert.type(peerPrototype().setThrottlePipes, 'function');
    assert.type(pieceClass().prototype.flush, 'function');
  } finally {
    await new Promise<void>((resolve) => client.destroy(() => resolve()));
  }
});

test('a webtorrent without them is refused by name', () => {
  assert.throws(
    () => torrentInternals({ wires: [], pieces: [] } as unknown as Torrent),
    /webtorrent changed: Torrent\._request is gone \(see shared\/webtorrent\/README\.md\)/,
  );
  const almost = { _request() {}, _select() {}, _update() {}, _updateWire() {}, _addPeer() {}, wires: [], pieces: undefined };
  assert.throws(() => torrentInternals(almost as unknown as Torrent), /Torrent\.pieces is gone/);
  assert.throws(() => clientThrottleGroups({}), /webtorrent changed: client\.throttleGroups is gone/);
});

test.run();
