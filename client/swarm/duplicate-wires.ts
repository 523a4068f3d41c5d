/**
 * One connection per peer. Two PCs that learn of each other from the tracker both connect, and
 * webtorrent keeps both (it tells peers apart by address and port, and an incoming connection
 * comes from an ephemeral port): in the lab simulator a PC at N = 16 carried 31 wires for 15 PCs
 * and the seeder, so every pass over the wires, every `have` and every keep-alive was paid twice,
 * and each peer's requests were split over two TCP streams.
 * Which one goes: the connection opened by the peer with the smaller peer ID stays, so both ends
 * drop the same one without a word between them. webtorrent would open a dropped outgoing
 * connection again (its retries, and every tracker answer): about 6 connections a second per PC
 * at N = 8, each dropped again on its handshake. So the address it went to is remembered, and not
 * dialled while a wire to that peer lives.
 */
import type { Torrent } from 'webtorrent';
import { torrentInternals } from '../../shared/webtorrent/internals.js';

interface PeerWire {
  peerId?: string;
  /** bittorrent-protocol's Wire carries webtorrent's peer type: tcpIncoming, tcpOutgoing, webSeed… */
  type?: string;
  destroyed: boolean;
  destroy(): void;
}

/** Which of two wires to the same peer to close (both opened the same way: the newer one). */
export function duplicateToDrop<W extends PeerWire>(myPeerId: string, first: W, second: W): W {
  const opener = (w: W): string => (w.type?.endsWith('Outgoing') ? myPeerId : w.peerId!);
  if (opener(first) === opener(second)) return second;
  const keeper = myPeerId < first.peerId! ? myPeerId : first.peerId!;
  return opener(first) === keeper ? second : first;
}

/** Closes the second connection to a peer as it completes its handshake. Returns how many were closed. */
export function dropDuplicateWires(torrent: Torrent, myPeerId: string): () => number {
  const t = torrentInternals<PeerWire>(torrent);
  let dropped = 0;
  const live = (peerId: string): boolean => t.wires.some((w) => !w.destroyed && w.peerId === peerId);
  // Address dialled → the peer found there, for outgoing connections dropped as duplicates.
  const dialled = new Map<string, string>();
  const wireAddr = new WeakMap<PeerWire, string>();
  const addPeer = t._addPeer.bind(torrent);
  t._addPeer = (peer, type, source) => {
    const known = typeof peer === 'string' ? dialled.get(peer) : undefined;
    if (known && live(known)) return null;
    return addPeer(peer, type, source);
  };
  torrent.on('wire', (wire: PeerWire, addr?: string) => {
    if (addr) wireAddr.set(wire, addr);
    if (wire.type === 'webSeed' || !wire.peerId) return;
    const other = t.wires.find((w) => w !== wire && !w.destroyed && w.peerId === wire.peerId && w.type !== 'webSeed');
    if (!other) return;
    const drop = duplicateToDrop(myPeerId, other, wire);
    const at = wireAddr.get(drop);
    if (at && drop.type?.endsWith('Outgoing')) dialled.set(at, drop.peerId!);
    dropped++;
    // After webtorrent has finished taking the wire on (it goes on after this event).
    setImmediate(() => drop.destroy());
  });
  return () => dropped;
}
