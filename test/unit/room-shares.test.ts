import { test } from '../suite.js';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import { roomParts, sharesByRoom } from '../../shared/swarm/room-shares.js';

test('one room: the shares in the group order, as before rooms counted', () => {
  assert.equal(sharesByRoom(['10.0.1', '10.0.1', '10.0.1']), [0, 1, 2]);
  assert.equal(sharesByRoom([]), []);
});

test("shares dealt round the rooms: a room's shares lie spread over the image", () => {
  // Rooms A, A, A, B, B, B (MAC order): A gets 0, 2, 4 and B 1, 3, 5.
  assert.equal(sharesByRoom(['A', 'A', 'A', 'B', 'B', 'B']), [0, 2, 4, 1, 3, 5]);
  // Rooms of unequal size, in the order they first appear: the small room's turn is skipped once it is empty.
  assert.equal(sharesByRoom(['B', 'A', 'B', 'B']), [0, 1, 2, 3]);
  assert.equal(sharesByRoom(['A', 'B', 'A', 'A', 'C']), [0, 1, 3, 4, 2]);
});

test('every member gets a share, each share once, whatever the rooms', () => {
  fc.assert(
    fc.property(fc.array(fc.constantFrom('a', 'b', 'c', 'd'), { maxLength: 40 }), (rooms) => {
      const shares = sharesByRoom(rooms);
      assert.is(shares.length, rooms.length);
      assert.equal(
        [...shares].sort((x, y) => x - y),
        rooms.map((_, k) => k),
      );
      // Within a room the members keep their order.
      for (const room of new Set(rooms)) {
        const mine = shares.filter((_, k) => rooms[k] === room);
        assert.equal(
          mine,
          [...mine].sort((x, y) => x - y),
        );
      }
    }),
  );
});

test("room parts: each member of a room gets its own slice of that room, in the group's order", () => {
  assert.equal(roomParts(['A', 'A', 'B', 'A', 'B']), [
    { index: 0, count: 3 },
    { index: 1, count: 3 },
    { index: 0, count: 2 },
    { index: 2, count: 3 },
    { index: 1, count: 2 },
  ]);
  // One room: every member's part is its own share.
  assert.equal(roomParts(['A', 'A']), [
    { index: 0, count: 2 },
    { index: 1, count: 2 },
  ]);
  fc.assert(
    fc.property(fc.array(fc.constantFrom('a', 'b', 'c'), { maxLength: 40 }), (rooms) => {
      const parts = roomParts(rooms);
      for (const room of new Set(rooms)) {
        const mine = parts.filter((_, k) => rooms[k] === room);
        const size = rooms.filter((r) => r === room).length;
        assert.equal(
          mine.map((p) => p.index),
          Array.from({ length: size }, (_, i) => i),
        );
        assert.ok(mine.every((p) => p.count === size));
      }
    }),
  );
});

test.run();
