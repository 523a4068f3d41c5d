/**
 * Which peers an announcing PC is given, best first: peers of its own subnet before others (lab
 * switches are fast inside a room and thin between rooms), and among those the finished ones and
 * the seeders before PCs still downloading (they hold every piece). Ties are shuffled so that two
 * hundred PCs announcing at once do not all pile onto the same few peers.
 */
import { subnetOf } from '../shared/lan-address.js';

export interface TrackedPeer {
  ip: string;
  port: number;
  peerId: string;
  complete: boolean;
}

export function orderPeers<P extends TrackedPeer>(
  peers: Iterable<P>,
  self: { ip: string; peerId: string },
  numwant: number,
  random: () => number = Math.random,
): P[] {
  const own = subnetOf(self.ip);
  const ranked = [...peers]
    .filter((p) => p.peerId !== self.peerId)
    .map((p) => ({ p, rank: (subnetOf(p.ip) === own ? 0 : 2) + (p.complete ? 0 : 1), tie: random() }));
  ranked.sort((a, b) => a.rank - b.rank || a.tie - b.tie);
  return ranked.slice(0, Math.max(0, numwant)).map((r) => r.p);
}
