/**
 * The network the swarm model runs on: one server (storage node) and N PCs, each with a link of its
 * own both ways; PCs in rooms behind a switch whose uplink to the core is thinner than its PCs'
 * links together, the server on the core. Or, as the lab simulator builds it (scripts/lab/netns.ts),
 * every PC and the server on one bridge, no rooms. Capacities are in bytes on the wire per second;
 * a flow's payload costs more than itself (frame headers) and its ACKs cost a little on the way back.
 */

/** Bytes of payload in a full TCP segment with timestamps (MTU 1500). */
const MSS_BYTES = 1448;
/** What a tbf shaper counts for one: payload, TCP with timestamps (32), IPv4 (20), Ethernet header (14). */
const LAB_FRAME_BYTES = MSS_BYTES + 66;
/** On a real wire also the FCS (4), preamble (8) and gap (12). */
const WIRE_FRAME_BYTES = LAB_FRAME_BYTES + 24;
const LAB_ACK_BYTES = 66;
const WIRE_ACK_BYTES = 90;
/** Linux ACKs every second segment. */
const SEGMENTS_PER_ACK = 2;
/** BitTorrent's piece message: 13 bytes of header per block. */
const BLOCK_HEADER_BYTES = 13;

export interface Scenario {
  /** What it stands for, for the table. */
  name: string;
  pcs: number;
  imageBytes: number;
  pieceBytes: number;
  pcMbitPerS: number;
  serverMbitPerS: number;
  /** PCs per room; 0: all on one switch (the lab's bridge). */
  roomSize: number;
  /** Each room's uplink to the core, each way. */
  roomUplinkMbitPerS: number;
  /** The lab's tbf counts frames without FCS, preamble and gap; a real wire carries them. */
  framing: 'lab-tbf' | 'ethernet';
  /** PCs (by index) whose link runs at `slowFactor` of the others'. */
  slowPcs: number[];
  slowFactor: number;
  /** PCs (by index) that lose `lossPercent` of the packets they receive. */
  lossyPcs: number[];
  lossPercent: number;
  /** Round-trip time for the lossy PCs' TCP throughput (Mathis), seconds. */
  lossRttS: number;
  /** PCs start within this many seconds of the group's start (uniform). */
  startJitterS: number;
  /** From start to first request: tracker answer, TCP and BitTorrent handshakes, the seeder's knock. */
  connectS: number;
}

/** Bytes on the link per payload byte of data in blocks of `blockBytes`, and per payload byte on the link going back (ACKs). */
export function framingCost(framing: Scenario['framing'], blockBytes: number): { data: number; ack: number } {
  const frame = framing === 'lab-tbf' ? LAB_FRAME_BYTES : WIRE_FRAME_BYTES;
  const ack = framing === 'lab-tbf' ? LAB_ACK_BYTES : WIRE_ACK_BYTES;
  return {
    data: (frame / MSS_BYTES) * ((blockBytes + BLOCK_HEADER_BYTES) / blockBytes),
    ack: ack / (SEGMENTS_PER_ACK * MSS_BYTES),
  };
}

/**
 * Mathis et al.: one TCP flow losing a share `p` of its packets carries about MSS/RTT · √(3/2)/√p,
 * payload bytes/s.
 */
export function mathisBytesPerS(lossShare: number, rttS: number): number {
  return (MSS_BYTES / rttS) * Math.sqrt(1.5 / lossShare);
}

export const SERVER = 0;

/** Node 0 is the server, node i ≥ 1 is PC i − 1. Links: each node's up and down, each room's out and in. */
export interface Topology {
  nodes: number;
  rooms: number;
  /** Room of each node; -1 for the server (on the core) and for every node without rooms. */
  roomOf: Int32Array;
  /** Wire bytes/s of each link. */
  capacity: Float64Array;
  up(node: number): number;
  down(node: number): number;
  roomOut(room: number): number;
  roomIn(room: number): number;
  /** Each node's address, so that the tracker's subnet rule (tracker/peer-order.ts) sees rooms as /24s. */
  ip: string[];
}

const bytesPerS = (mbit: number): number => (mbit * 1e6) / 8;

export function buildTopology(s: Scenario): Topology {
  if (!Number.isInteger(s.pcs) || s.pcs < 1) throw new Error(`the model needs 1 or more PCs, not ${s.pcs}`);
  const nodes = s.pcs + 1;
  const rooms = s.roomSize > 0 ? Math.ceil(s.pcs / s.roomSize) : 0;
  if (rooms > 250 * 250) throw new Error(`too many rooms for the model's addresses: ${rooms}`);
  const roomOf = new Int32Array(nodes).fill(-1);
  const ip: string[] = [s.roomSize > 0 ? '10.0.0.1' : '10.77.0.1'];
  for (let pc = 0; pc < s.pcs; pc++) {
    if (s.roomSize > 0) {
      const room = Math.floor(pc / s.roomSize);
      roomOf[pc + 1] = room;
      ip.push(`10.${1 + Math.floor(room / 250)}.${room % 250}.${10 + (pc % s.roomSize)}`);
    } else ip.push(`10.77.${Math.floor(pc / 200)}.${10 + (pc % 200)}`);
  }
  const capacity = new Float64Array(2 * nodes + 2 * rooms);
  capacity[0] = capacity[1] = bytesPerS(s.serverMbitPerS);
  const slow = new Set(s.slowPcs);
  for (let pc = 0; pc < s.pcs; pc++) {
    const rate = bytesPerS(s.pcMbitPerS) * (slow.has(pc) ? s.slowFactor : 1);
    capacity[2 * (pc + 1)] = capacity[2 * (pc + 1) + 1] = rate;
  }
  for (let r = 0; r < rooms; r++) capacity[2 * nodes + 2 * r] = capacity[2 * nodes + 2 * r + 1] = bytesPerS(s.roomUplinkMbitPerS);
  return {
    nodes,
    rooms,
    roomOf,
    capacity,
    up: (n) => 2 * n,
    down: (n) => 2 * n + 1,
    roomOut: (r) => 2 * nodes + 2 * r,
    roomIn: (r) => 2 * nodes + 2 * r + 1,
    ip,
  };
}

/**
 * The lab simulator as bench:lab runs it (scripts/bench-lab.ts, scripts/lab/netns.ts): one bridge,
 * PCs at 16 Mbit/s and the server at 160 Mbit/s by default (1 GbE and 10 GbE at about 1/60 scale),
 * 64 MiB of files captured into a 43.0 MiB image of 1 MiB pieces (docs/benchmarks.md).
 */
export function labScenario(pcs: number, o: Partial<Scenario> = {}): Scenario {
  return {
    name: 'lab',
    pcs,
    imageBytes: 43 * 1024 * 1024,
    pieceBytes: 1024 * 1024,
    pcMbitPerS: 16,
    serverMbitPerS: 160,
    roomSize: 0,
    roomUplinkMbitPerS: 0,
    framing: 'lab-tbf',
    slowPcs: [],
    slowFactor: 1,
    lossyPcs: [],
    lossPercent: 0,
    // tbf's queue holds up to 100 ms; a loaded link sits well into it.
    lossRttS: 0.05,
    // The lab's PCs start on the portal's startedAt, each on its next poll: N = 1 takes 23.8 s where
    // its link carries the image in 23.6 s.
    startJitterS: 0.3,
    connectS: 0.05,
    ...o,
  };
}

/**
 * A campus: rooms of 30 PCs on 1 GbE behind a switch with a 10 GbE uplink (3:1), the server on
 * 10 GbE at the core; in every room one PC at a quarter of the rate (a bad cable, a port that
 * negotiated down) and one losing 1 % of the packets it receives, at a place in the room that
 * differs from room to room. A 2 GiB image of 4 MiB pieces:
 * what matters for the ratio is how many piece times the image lasts (512 here), and a larger
 * image only makes the run longer.
 */
export function campusScenario(pcs: number, o: Partial<Scenario> = {}): Scenario {
  const roomSize = o.roomSize ?? 30;
  const slowPcs: number[] = [];
  const lossyPcs: number[] = [];
  // Where in its room the two sit varies from room to room: a PC's speed has nothing to do with
  // its place in the group's order, and a room part is dealt by that place (room-shares.ts). With
  // the slow PC first in every room, every room's first part was brought in, and handed round, at
  // a quarter of the rate (200 PCs: 1.50x, 1,000: 1.30x).
  for (let r = 0, first = 0; first < pcs; r++, first += roomSize) {
    const size = Math.min(roomSize, pcs - first);
    const slow = (r * 11) % size;
    slowPcs.push(first + slow);
    if (size > 1) lossyPcs.push(first + ((slow + 1 + ((r * 7) % (size - 1))) % size));
  }
  return {
    name: 'campus',
    pcs,
    imageBytes: 2 * 1024 ** 3,
    pieceBytes: 4 * 1024 * 1024,
    pcMbitPerS: 1000,
    serverMbitPerS: 10_000,
    roomSize,
    roomUplinkMbitPerS: 10_000,
    framing: 'ethernet',
    slowPcs,
    slowFactor: 0.25,
    lossyPcs,
    lossPercent: 1,
    lossRttS: 0.001,
    startJitterS: 1,
    connectS: 0.01,
    ...o,
  };
}
