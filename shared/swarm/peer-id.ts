/**
 * BitTorrent peer IDs that say who is a storage node. A PC leaves to the storage nodes only the
 * pieces no other PC can give it (client/swarm/piece-order.ts), so the nodes upload each piece about
 * once; it tells them from PCs by this prefix ("-SHOALS-", Azureus style plus a tag).
 */
import { randomBytes } from 'node:crypto';

const SEEDER_PREFIX = Buffer.from('-SHOALS-');
export const SEEDER_PEER_ID_PREFIX_HEX = SEEDER_PREFIX.toString('hex');

/** A storage node's peer ID, hex as webtorrent takes it. */
export function seederPeerId(): string {
  return Buffer.concat([SEEDER_PREFIX, randomBytes(20 - SEEDER_PREFIX.length)]).toString('hex');
}

export const isSeederPeerId = (hex: string | undefined): boolean => !!hex && hex.startsWith(SEEDER_PEER_ID_PREFIX_HEX);
