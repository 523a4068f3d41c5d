/**
 * A peer that sends corrupt pieces is dropped. webtorrent checks every piece's SHA-1 and throws a
 * bad one away, but asks the same peer again and never bans it (webtorrent 2.8.5). Here every
 * block a peer delivers is noted against its piece; when a piece fails its check, each peer that
 * delivered part of it gets a strike shared among them (a piece one peer sent alone is surely
 * its fault), and a peer reaching MAX_STRIKES is disconnected and refused from then on, by peer ID
 * and address, whichever way it comes back (tracker, incoming connection).
 */
import type { Torrent } from 'webtorrent';
import { logger } from '../../shared/log.js';

const log = logger('swarm');
const MAX_STRIKES = 2;
const FAILED = /^Piece (\d+) failed verification/;

interface BanWire {
  peerId?: string;
  remoteAddress?: string;
  remotePort?: number;
  type?: string;
  request(index: number, offset: number, length: number, cb: (err: Error | null, buf?: Uint8Array) => void): void;
  destroy(): void;
}

export interface PeerBans {
  banned(): number;
  /** Pieces that failed their check. */
  corruptPieces(): number;
}

export function banCorruptPeers(torrent: Torrent): PeerBans {
  const contributors = new Map<number, Set<BanWire>>();
  // By peer ID (or address): a peer that reconnects keeps its strikes.
  const strikes = new Map<string, number>();
  const bannedIds = new Set<string>();
  const bannedAddrs = new Set<string>();
  let corrupt = 0;
  let banned = 0;
  const addrOf = (w: BanWire): string | undefined => (w.remoteAddress && w.remotePort ? `${w.remoteAddress}:${w.remotePort}` : undefined);
  const whoIs = (w: BanWire): string => w.peerId ?? addrOf(w) ?? 'unknown';
  const isBanned = (w: BanWire) => (!!w.peerId && bannedIds.has(w.peerId)) || bannedAddrs.has(addrOf(w) ?? '');

  torrent.on('wire', (wire: BanWire) => {
    if (isBanned(wire)) return wire.destroy();
    const request = wire.request.bind(wire);
    wire.request = (index, offset, length, cb) =>
      request(index, offset, length, (err, buf) => {
        if (!err) {
          let set = contributors.get(index);
          if (!set) contributors.set(index, (set = new Set()));
          set.add(wire);
        }
        cb(err, buf);
      });
  });
  torrent.on('verified', (index: number) => contributors.delete(index));
  torrent.on('warning', (err: Error) => {
    const m = FAILED.exec(err.message);
    if (!m) return;
    corrupt++;
    const index = Number(m[1]);
    const sources = [...(contributors.get(index) ?? [])];
    contributors.delete(index);
    for (const w of sources) {
      const s = (strikes.get(whoIs(w)) ?? 0) + 1 / sources.length;
      strikes.set(whoIs(w), s);
      if (s >= MAX_STRIKES && !isBanned(w)) {
        if (w.peerId) bannedIds.add(w.peerId);
        const addr = addrOf(w);
        if (addr) bannedAddrs.add(addr);
        banned++;
        log.warn({ peer: addr ?? w.peerId, piece: index }, 'peer sent corrupt pieces: dropped and banned');
        w.destroy();
      }
    }
  });
  // Peers the tracker or a caller hands over again are refused at the door.
  const addPeer = torrent.addPeer.bind(torrent);
  torrent.addPeer = (peer: string) => (bannedAddrs.has(peer) ? false : addPeer(peer));
  return { banned: () => banned, corruptPieces: () => corrupt };
}
