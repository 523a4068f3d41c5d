import { test } from '../suite.js';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import WebTorrent from 'webtorrent';
import type { Torrent } from 'webtorrent';
import { dropDuplicateWires, duplicateToDrop } from '../../client/swarm/duplicate-wires.js';

interface W {
  name: string;
  peerId: string;
  type: string;
  destroyed: boolean;
  destroy(): void;
}
const peerIdHex = () => fc.string({ unit: fc.constantFrom(...'0123456789abcdef'), minLength: 40, maxLength: 40 });
const wire = (name: string, peerId: string, type: string): W => ({ name, peerId, type, destroyed: false, destroy() {} });

test('both ends of a doubled connection drop the same one: the one the larger peer ID opened', () => {
  fc.assert(
    fc.property(peerIdHex(), peerIdHex(), fc.boolean(), fc.boolean(), (a, b, aSeesOwnFirst, bSeesOwnFirst) => {
      fc.pre(a !== b);
      // Connection "a→b" is outgoing at a and incoming at b; "b→a" the other way round.
      const atA = [wire('a→b', b, 'tcpOutgoing'), wire('b→a', b, 'tcpIncoming')];
      const atB = [wire('a→b', a, 'tcpIncoming'), wire('b→a', a, 'tcpOutgoing')];
      if (!aSeesOwnFirst) atA.reverse();
      if (bSeesOwnFirst) atB.reverse();
      const droppedAtA = duplicateToDrop(a, atA[0]!, atA[1]!).name;
      const droppedAtB = duplicateToDrop(b, atB[0]!, atB[1]!).name;
      assert.is(droppedAtA, droppedAtB);
      assert.is(droppedAtA, a < b ? 'b→a' : 'a→b');
    }),
  );
});

test('two connections opened the same way: the newer one goes', () => {
  const first = wire('first', 'bb', 'tcpOutgoing');
  const second = wire('second', 'bb', 'tcpOutgoing');
  assert.is(duplicateToDrop('aa', first, second).name, 'second');
  assert.is(duplicateToDrop('aa', wire('first', 'bb', 'tcpIncoming'), wire('second', 'bb', 'tcpIncoming')).name, 'second');
});

test('two real clients that dial each other end with one connection, and do not dial again', async () => {
  // Real webtorrent clients on loopback: one seeds 2 MiB, the other fetches it at 128 KiB/s, so the
  // wire is still busy when counted; each is told the other's address at once, so both dial.
  const opts = { dht: false, lsd: false, utp: false, natUpnp: false, natPmp: false, tracker: false, webSeeds: false, torrentPort: 0 } as const;
  const a = new WebTorrent(opts);
  const b = new WebTorrent({ ...opts, downloadLimit: 128 * 1024 });
  const dir = mkdtempSync(join(tmpdir(), 'shoal-dup-wires-'));
  try {
    const listening = (c: WebTorrent) => new Promise<number>((r) => c.once('listening', () => r((c as unknown as { torrentPort: number }).torrentPort)));
    const [portA, portB] = await Promise.all([listening(a), listening(b)]);
    const seed = (a as unknown as { seed(data: Buffer, o: object, cb: (t: Torrent) => void): void }).seed.bind(a);
    const seeded = await new Promise<Torrent>((r) => seed(randomBytes(2 * 1024 * 1024), { name: 'x', announce: [], path: join(dir, 'a') }, r));
    const fetching = b.add((seeded as unknown as { torrentFile: Buffer }).torrentFile, { announce: [], path: join(dir, 'b') });
    await new Promise((r) => fetching.once('infoHash', r));
    const droppedA = dropDuplicateWires(seeded, (a as unknown as { peerId: string }).peerId);
    const droppedB = dropDuplicateWires(fetching, (b as unknown as { peerId: string }).peerId);
    seeded.addPeer(`127.0.0.1:${portB}`);
    fetching.addPeer(`127.0.0.1:${portA}`);
    // webtorrent dials a closed outgoing peer again after 1 s: wait past that.
    await new Promise((r) => setTimeout(r, 3_000));
    const live = (t: Torrent) => (t as unknown as { wires: Array<{ destroyed: boolean }> }).wires.filter((w) => !w.destroyed).length;
    assert.is(live(seeded), 1, 'the seeding client holds one connection');
    assert.is(live(fetching), 1, 'the fetching client holds one connection');
    assert.ok(droppedA() + droppedB() >= 1, 'a second connection was made, and dropped');
    assert.ok(droppedA() + droppedB() <= 2, `no dialling again: ${droppedA() + droppedB()} dropped`);
    assert.ok(fetching.downloaded > 0, 'the kept connection carries the pieces');
  } finally {
    await Promise.all([a, b].map((c) => new Promise((r) => c.destroy(r))));
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
