/**
 * What a deploy over the network looks like to its driver (ticket-deploy.ts), whichever transport
 * carries the pieces: swarm, unicast, or auto (the swarm, then unicast when it finds nobody).
 */
export const TRANSPORTS = ['swarm', 'unicast', 'multicast'] as const;
export type TransportName = (typeof TRANSPORTS)[number];

export interface DeployStats {
  downloaded: number;
  uploaded: number;
  downloadBytesPerSec: number;
  uploadBytesPerSec: number;
  peers: number;
  /** Pieces on disk now, and in all. */
  piecesWritten: number;
  piecesTotal: number;
  /** Pieces found on disk at start (resume). */
  piecesHeld: number;
  bytesWritten: number;
  bytesTotal: number;
  webSeedsAdded: boolean;
  /** Of `downloaded`, what came from storage nodes and web seeds (the rest came from PCs). */
  fromStorageBytes: number;
  /** Swarm: pieces asked of a storage node beyond this PC's share because its link had room (piece-order.ts). */
  extraPieces?: number;
  /** Peers dropped for sending corrupt pieces, and the pieces that failed their check. */
  bannedPeers: number;
  corruptPieces: number;
  /** The transport fetching now, and the pieces each one wrote (resumed pieces in neither). */
  transport: TransportName;
  piecesByTransport: Partial<Record<TransportName, number>>;
}

export interface DeployTransport {
  /** Settles when every piece is on disk. */
  done: Promise<void>;
  /** After done: leaves the network, then finishes the disks (swap, growth, the table). */
  finish(): Promise<void>;
  stats(): DeployStats;
  /** Gives up: done rejects, the network is left; the disk keeps what was written (resume). */
  stop(): Promise<void>;
  /** After done: the answer to the portal's challenge that the disk holds the image. */
  prove(nonce: string, indices: number[]): string;
}
