import { test } from '../suite.js';
import * as assert from 'uvu/assert';
import { maxMinRates } from '../../scripts/model/max-min.js';
import { mulberry32 } from '../../scripts/model/prng.js';
import { runSwarmModel } from '../../scripts/model/swarm-model.js';
import { campusScenario, framingCost, labScenario, type Scenario } from '../../scripts/model/topology.js';
import { swarmBlockBytes } from '../../client/swarm/piece-buffers.js';

const MiB = 1024 * 1024;
/** A small lab: 8 MiB of 256 KiB pieces, so that every case runs in milliseconds. */
const small = (pcs: number, o: Partial<Scenario> = {}): Scenario => labScenario(pcs, { imageBytes: 8 * MiB, pieceBytes: MiB / 4, startJitterS: 0, ...o });

test('the PRNG repeats itself for a seed and differs between seeds', () => {
  const a = mulberry32(7);
  const b = mulberry32(7);
  const c = mulberry32(8);
  const xs = Array.from({ length: 5 }, () => a());
  assert.equal(
    xs,
    Array.from({ length: 5 }, () => b()),
  );
  assert.not.equal(
    xs,
    Array.from({ length: 5 }, () => c()),
  );
  assert.ok(xs.every((x) => x >= 0 && x < 1));
});

test('max-min: equal shares of a common bottleneck, the rest to whom it limits less', () => {
  const w = [1, 1];
  // Two flows into link 0 (10), one of them also through link 1 (2): 2 and 8.
  const rates = maxMinRates(
    [
      { links: [0, 1], weights: w },
      { links: [0, 2], weights: w },
    ],
    [10, 2, 100],
  );
  assert.equal([...rates], [2, 8]);
});

test('same seed, same run; another seed may differ', () => {
  const a = runSwarmModel(small(8), { seed: 3 });
  const b = runSwarmModel(small(8), { seed: 3 });
  assert.equal(a.pcSeconds, b.pcSeconds);
  assert.is(a.seederUploadImages, b.seederUploadImages);
  const c = runSwarmModel(small(8, { startJitterS: 0.3 }), { seed: 4 });
  const d = runSwarmModel(small(8, { startJitterS: 0.3 }), { seed: 5 });
  assert.not.equal(c.pcSeconds, d.pcSeconds);
});

test('one PC, one seeder: the image over the slower link, framing included', () => {
  const s = small(1, { pcMbitPerS: 8, serverMbitPerS: 80, connectS: 0 });
  const r = runSwarmModel(s, { seed: 1 });
  // The PC asks in blocks of a sixteenth of a piece, each with its 13-byte header.
  const payloadBytesPerS = (8e6 / 8 - 0) / framingCost('lab-tbf', swarmBlockBytes(s.pieceBytes)).data;
  assert.ok(Math.abs(r.lastSeconds - s.imageBytes / payloadBytesPerS) < 0.01, `${r.lastSeconds}`);
  // And the server's link the slower one: its rate.
  const t = runSwarmModel(small(1, { pcMbitPerS: 80, serverMbitPerS: 8, connectS: 0 }), { seed: 1 });
  assert.ok(Math.abs(t.lastSeconds - s.imageBytes / payloadBytesPerS) < 0.01, `${t.lastSeconds}`);
  assert.ok(Math.abs(r.seederUploadImages - 1) < 1e-9, `${r.seederUploadImages}`);
});

test('never faster than the bound; every PC gets every piece once; no link over its capacity', () => {
  for (const [n, seed] of [
    [4, 1],
    [16, 2],
    [33, 3],
  ] as const) {
    const s = small(n, { startJitterS: 0.2 });
    const r = runSwarmModel(s, { seed });
    const pieces = Math.ceil(s.imageBytes / s.pieceBytes);
    assert.ok(r.ratio >= 1, `N = ${n}: ${r.ratio}`);
    assert.equal(
      r.piecesReceived,
      Array.from({ length: n }, () => pieces),
    );
    assert.ok(r.seederUploadImages >= 1 - 1e-9, `seeder ${r.seederUploadImages}`);
    assert.ok(r.peakLinkLoad <= 1 + 1e-6, `peak ${r.peakLinkLoad}`);
  }
});

test('a slow PC finishes last', () => {
  const r = runSwarmModel(small(12, { slowPcs: [5], slowFactor: 0.25 }), { seed: 1 });
  assert.is(r.slowestPc, 5);
  assert.ok(r.pcSeconds[5]! > 1.5 * Math.max(...r.pcSeconds.filter((_, k) => k !== 5)));
});

test("rooms: the tracker lists a PC's room first, so more of what PCs send each other stays in the room", () => {
  const s = campusScenario(90, { imageBytes: 16 * MiB, pieceBytes: MiB, slowPcs: [], lossyPcs: [] });
  const r = runSwarmModel(s, { seed: 1, rebalanceS: 0.02 });
  // 29 of a PC's 89 peers share its room: what a choice blind to rooms would keep inside.
  const blind = 29 / 89;
  assert.ok(r.inRoomShare > 1.3 * blind, `in-room share ${r.inRoomShare}`);
  assert.ok(r.peakLinkLoad <= 1 + 1e-6);
});

test('rooms: room parts, shares dealt round the rooms and room first keep what PCs send each other in the room, and the server sends about one image', () => {
  const s = campusScenario(90, { imageBytes: 512 * MiB, pieceBytes: 2 * MiB });
  const before = runSwarmModel(s, { seed: 1, rebalanceS: 0.1, roomFirst: false, roomShares: false, roomParts: false });
  const now = runSwarmModel(s, { seed: 1, rebalanceS: 0.1 });
  console.log(
    `  in-room ${before.inRoomShare.toFixed(2)} -> ${now.inRoomShare.toFixed(2)}, server ${before.seederUploadImages.toFixed(2)} -> ${now.seederUploadImages.toFixed(2)} images, last PC ${before.lastSeconds.toFixed(1)} -> ${now.lastSeconds.toFixed(1)} s`,
  );
  // When written: in-room 0.47 -> 0.95, server 2.91 -> 1.01 images, last PC 19.2 -> 19.8 s. Each
  // piece enters a room about once, by the PC whose room part it is; the server sends each piece
  // about once. The last PC is the room's quarter-rate one either way.
  assert.ok(now.inRoomShare > 0.9, `in-room share ${before.inRoomShare} -> ${now.inRoomShare}`);
  assert.ok(now.seederUploadImages < 1.1, `server ${now.seederUploadImages} images`);
  assert.ok(now.lastSeconds < 1.1 * before.lastSeconds, `last PC ${before.lastSeconds} -> ${now.lastSeconds} s`);
  assert.ok(now.piecesReceived.every((n) => n === 256));
});

test.run();
