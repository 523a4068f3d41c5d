import { test } from '../suite.js';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import { nodesHaveRoom, pieceWalk, roomHolds, walkRanges, type Wire } from '../../client/swarm/piece-order.js';
import { subnetOf } from '../../shared/lan-address.js';

test("the walk: the room part from the start, the part before the start, then the rest from the part's end round", () => {
  assert.equal(pieceWalk(10, 4, [2, 6]), [
    [4, 6],
    [2, 4],
    [6, 10],
    [0, 2],
  ]);
  // A share outside the part (rooms of unequal size): the part from its own start.
  assert.equal(pieceWalk(10, 8, [2, 6])[0], [2, 6]);
  // No part (one room): the whole image from the start round, as before room parts.
  const order = (walk: Array<[number, number]>): number[] => walk.flatMap(([a, b]) => Array.from({ length: b - a }, (_, k) => a + k));
  assert.equal(order(pieceWalk(5, 3)), [3, 4, 0, 1, 2]);
  assert.equal(walkRanges([false, true, false, false], pieceWalk(4, 3)), [
    [3, 3],
    [0, 0],
    [2, 2],
  ]);
  assert.equal(walkRanges([true, true], pieceWalk(2, 1)), []);
});

test("walk ranges cover exactly the missing pieces, once each, the room part's before the rest", () => {
  const setup = fc.array(fc.boolean(), { minLength: 1, maxLength: 60 }).chain((held) =>
    fc.tuple(fc.constant(held), fc.nat(held.length - 1), fc.nat(held.length), fc.nat(held.length)).map(([h, start, x, y]) => ({
      held: h,
      start,
      part: [Math.min(x, y), Math.max(x, y)] as [number, number],
    })),
  );
  fc.assert(
    fc.property(setup, ({ held, start, part }) => {
      const got = walkRanges(held, pieceWalk(held.length, start, part)).flatMap(([a, b]) => Array.from({ length: b - a + 1 }, (_, i) => a + i));
      const want = held.flatMap((h, i) => (h ? [] : [i]));
      assert.equal(
        [...got].sort((x, y) => x - y),
        want,
      );
      assert.is(new Set(got).size, got.length);
      const inPart = (i: number): boolean => i >= part[0] && i < part[1];
      const firstOutside = got.findIndex((i) => !inPart(i));
      if (firstOutside >= 0)
        assert.ok(
          got.slice(firstOutside).every((i) => !inPart(i)),
          `${got.join(',')} with part ${part.join('-')}`,
        );
      if (inPart(start) && !held[start]) assert.is(got[0], start);
    }),
  );
});

test("the nodes have room when their rate over the whole group is well above a PC's, whatever the group's size", () => {
  const pc = 2e6; // a PC's best rate, bytes/s
  // A 10x server feeding 32 PCs their shares at once: each came at 10/32 of a PC's rate.
  assert.ok(nodesHaveRoom((10 * pc) / 32, 32, pc));
  assert.ok(nodesHaveRoom((10 * pc) / 16, 16, pc));
  // A server no faster than a PC (1 GbE both, or bench:swarm): every extra is one a share waits for.
  assert.not.ok(nodesHaveRoom(pc / 16, 16, pc));
  assert.not.ok(nodesHaveRoom(pc / 2, 2, pc));
  // Two PCs on a server of twice their rate (the room-to-spare test in test/root/lab-swarm.test.ts).
  assert.ok(nodesHaveRoom(pc, 2, pc));
  assert.not.ok(nodesHaveRoom(pc, 32, 0), 'no rate seen yet: no room assumed');
});

test('room first: a PC outside the room is not asked for a piece that a PC of the room, not choking, holds', () => {
  // Plain wires as webtorrent's carry them: an address, a choke flag and the pieces the peer has.
  const wire = (remoteAddress: string, pieces: number[], peerChoking = false): Wire => ({
    remoteAddress,
    peerChoking,
    peerPieces: { get: (i: number) => pieces.includes(i) },
  });
  const own = subnetOf('10.1.2.30');
  const inRoom = (w: Wire): boolean => subnetOf(w.remoteAddress!) === own;
  const outside = wire('10.1.3.7', [0, 1, 2, 3]);
  const mate = wire('10.1.2.31', [1]);
  const choking = wire('10.1.2.32', [2], true);
  const farMate = wire('10.1.4.9', [3]);
  const wires = [outside, mate, choking, farMate];
  assert.ok(roomHolds(wires, outside, 1, inRoom), 'a room-mate holds piece 1');
  assert.not.ok(roomHolds(wires, outside, 0, inRoom), 'nobody in the room holds piece 0');
  assert.not.ok(roomHolds(wires, outside, 2, inRoom), 'the room-mate holding piece 2 chokes this PC');
  assert.not.ok(roomHolds(wires, outside, 3, inRoom), 'piece 3 is only in a third room');
  assert.not.ok(roomHolds([mate], mate, 1, inRoom), 'a wire does not count against itself');
});

test.run();
