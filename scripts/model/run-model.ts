/**
 * npm run model -- [options] — the swarm model (scripts/model/, docs/swarm-model.md): a campus of
 * rooms of 30 PCs on 1 GbE behind 10 GbE uplinks, the server on 10 GbE, in every room one PC at a
 * quarter rate and one losing 1 % of its packets; prints per N the last PC's time, the bound
 * (DESIGN.md: max(S/B, N·S/(U + N·B_up)), B the slowest PC's link), the ratio, the worst PC
 * against its own bound, the full-rate PCs' ratio, the server's upload in images and the slowest PC.
 *   --pcs N[,N...] (200,500,1000)  --seed S (1)  --image-gib G (2)  --piece-mib M (4)
 *   --room-uplink-mbit R (10000)  --room-size K (30)  --slow-factor F (0.25)
 *   --check-lab (the model against the lab simulator's measured runs, error % per run)
 *   --room-blind (PCs ask PCs of other rooms as readily as their own, as before 2026-12-04)
 *   --shares-in-pc-order (shares in the group's order, not dealt round the rooms, as before 2026-12-04)
 * Ends with one JSON line.
 */
import { parseScriptArgs } from '../usage.js';
import { CAMPUS_REBALANCE_S, checkLab, checkLabFaulty, maxLabErrorPct } from './figures.js';
import { LAB_FAULTY } from './lab-reference.js';
import { runSwarmModel, type ModelResult } from './swarm-model.js';
import { campusScenario, labScenario } from './topology.js';

const { values } = parseScriptArgs(import.meta.url, {
  pcs: { type: 'string', default: '200,500,1000' },
  seed: { type: 'string', default: '1' },
  'image-gib': { type: 'string', default: '2' },
  'piece-mib': { type: 'string', default: '4' },
  'room-uplink-mbit': { type: 'string', default: '10000' },
  'room-size': { type: 'string', default: '30' },
  'slow-factor': { type: 'string', default: '0.25' },
  'check-lab': { type: 'boolean', default: false },
  'room-blind': { type: 'boolean', default: false },
  'shares-in-pc-order': { type: 'boolean', default: false },
  'no-room-parts': { type: 'boolean', default: false },
});
const number = (name: keyof typeof values, ok: (x: number) => boolean, want: string): number => {
  const x = Number(values[name]);
  if (!ok(x)) {
    console.error(`run-model: --${name} ${String(values[name])}: ${want}`);
    process.exit(2);
  }
  return x;
};
const SEED = number('seed', Number.isInteger, 'a whole number');
const IMAGE_BYTES = number('image-gib', (x) => x > 0, 'a positive number of GiB') * 1024 ** 3;
const PIECE_BYTES = number('piece-mib', (x) => x > 0, 'a positive number of MiB') * 1024 ** 2;
const ROOM_UPLINK_MBIT = number('room-uplink-mbit', (x) => x > 0, 'a positive rate');
const ROOM_SIZE = number('room-size', (x) => Number.isInteger(x) && x >= 1, 'a whole number, 1 or more');
const SLOW_FACTOR = number('slow-factor', (x) => x > 0 && x <= 1, 'a share of the link, above 0 and at most 1');
const COUNTS = values.pcs.split(',').map(Number);
if (COUNTS.some((n) => !Number.isInteger(n) || n < 1)) {
  console.error(`run-model: --pcs ${values.pcs}: whole numbers, 1 or more, separated by commas`);
  process.exit(2);
}

const fmt = (x: number, d = 2): string => (Number.isFinite(x) ? x.toFixed(d) : '-');
const json: Record<string, number> = {};

if (values['check-lab']) {
  console.log('model against the lab simulator (flat bridge, 43.0 MiB image, 1 MiB pieces, server 10x a PC):');
  console.log(
    `${'N'.padStart(4)} ${'PC Mbit/s'.padStart(9)} ${'lab s'.padStart(8)} ${'model s'.padStart(8)} ${'error'.padStart(7)} ${'lab srv'.padStart(8)} ${'model srv'.padStart(9)}  source`,
  );
  const checks = checkLab(SEED);
  for (const c of checks) {
    console.log(
      `${String(c.run.pcs).padStart(4)} ${String(c.run.pcMbitPerS).padStart(9)} ${c.run.lastSeconds.toFixed(1).padStart(8)} ${c.model.lastSeconds.toFixed(1).padStart(8)} ${`${c.errorPct >= 0 ? '+' : ''}${c.errorPct.toFixed(1)}%`.padStart(7)} ${fmt(c.run.seederImages ?? NaN).padStart(8)} ${fmt(c.model.seederUploadImages).padStart(9)}  ${c.run.source}`,
    );
  }
  const f = checkLabFaulty(SEED);
  console.log(
    `  N = ${LAB_FAULTY.pcs}, one PC at ${LAB_FAULTY.slowFactor}x and one losing ${LAB_FAULTY.lossPercent} %: half-rate PC lab ${LAB_FAULTY.slowSeconds.toFixed(1)} s, model ${f.slowSeconds.toFixed(1)} s (${f.slowErrorPct >= 0 ? '+' : ''}${f.slowErrorPct.toFixed(1)}%); lossy PC lab ${LAB_FAULTY.lossySeconds.toFixed(1)} s, model ${f.lossySeconds.toFixed(1)} s; the others moved lab ${LAB_FAULTY.othersShiftPct} %, model ${f.othersShiftPct.toFixed(1)} %`,
  );
  json.model_max_error_pct = maxLabErrorPct(checks, f);
  // Beyond what the lab has measured: the same lab at 64 PCs.
  for (const mbit of [16, 2]) {
    const r = runSwarmModel(labScenario(64, { pcMbitPerS: mbit, serverMbitPerS: 10 * mbit }), { seed: SEED });
    console.log(
      `  N = 64 at ${mbit} Mbit/s: model ${r.lastSeconds.toFixed(1)} s, ${fmt(r.ratio)}x the bound, server ${fmt(r.seederUploadImages)} images (the lab's N = 64 runs are CPU-bound)`,
    );
  }
  console.log('');
}

console.log(
  `campus model: rooms of ${ROOM_SIZE} on 1 GbE, room uplinks ${ROOM_UPLINK_MBIT} Mbit/s, server 10 GbE, image ${(IMAGE_BYTES / 1024 ** 3).toFixed(1)} GiB in ${(PIECE_BYTES / 1024 ** 2).toFixed(0)} MiB pieces, per room one PC at ${SLOW_FACTOR}x and one losing 1 %, seed ${SEED}`,
);
console.log(
  `${'N'.padStart(5)} ${'last s'.padStart(7)} ${'bound s'.padStart(7)} ${'ratio'.padStart(6)} ${'worst÷own'.padStart(9)} ${'full-rate÷bound'.padStart(15)} ${'seeder÷image'.padStart(12)} ${'in-room'.padStart(7)}  slowest PC   run s`,
);
for (const n of COUNTS) {
  const started = performance.now();
  const scenario = campusScenario(n, {
    imageBytes: IMAGE_BYTES,
    pieceBytes: PIECE_BYTES,
    roomUplinkMbitPerS: ROOM_UPLINK_MBIT,
    roomSize: ROOM_SIZE,
    slowFactor: SLOW_FACTOR,
  });
  const r: ModelResult = runSwarmModel(scenario, {
    seed: SEED,
    rebalanceS: CAMPUS_REBALANCE_S,
    roomFirst: !values['room-blind'],
    roomShares: !values['shares-in-pc-order'],
    roomParts: !values['no-room-parts'],
  });
  const kind = scenario.slowPcs.includes(r.slowestPc) ? 'slow' : scenario.lossyPcs.includes(r.slowestPc) ? 'lossy' : 'full-rate';
  console.log(
    `${String(n).padStart(5)} ${r.lastSeconds.toFixed(1).padStart(7)} ${r.boundSeconds.toFixed(1).padStart(7)} ${fmt(r.ratio).padStart(6)} ${fmt(r.worstOwnRatio).padStart(9)} ${fmt(r.fullRateRatio).padStart(15)} ${fmt(r.seederUploadImages).padStart(12)} ${fmt(r.inRoomShare).padStart(7)}  ${`#${r.slowestPc} (${kind})`.padEnd(12)} ${((performance.now() - started) / 1000).toFixed(1).padStart(5)}`,
  );
  json[`model_ratio_${n}`] = +r.worstOwnRatio.toFixed(3);
  json[`model_seeder_upload_${n}`] = +r.seederUploadImages.toFixed(3);
}
console.log(JSON.stringify({ bench: 'model', seed: SEED, ...json }));
