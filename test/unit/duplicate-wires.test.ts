import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import { duplicateToDrop } from '../../client/duplicate-wires.js';

interface W { name: string; peerId: string; type: string; destroyed: boolean; destroy(): void }
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

test.run();
