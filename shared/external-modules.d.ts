// Packages that ship no types of their own; only what Shoal uses is declared.
declare module 'create-torrent' {
  function createTorrent(input: string[] | string, opts: Record<string, unknown>, cb: (err: Error | null, torrent: Buffer) => void): void;
  export default createTorrent;
}
declare module 'bencode' {
  const bencode: { encode(v: unknown): Uint8Array; decode(b: Uint8Array, encoding?: string): unknown };
  export default bencode;
}
declare module 'webtorrent' {
  import type { EventEmitter } from 'node:events';
  interface Torrent extends EventEmitter {
    infoHash: string;
    ready: boolean;
    uploaded: number;
    downloaded: number;
    progress: number;
    numPeers: number;
    downloadSpeed: number;
    uploadSpeed: number;
    done: boolean;
    addWebSeed(url: string): void;
    discovery?: { tracker?: { update(): void } | null } | null;
    length: number;
    addPeer(addr: string): boolean;
    select(start: number, end: number, priority?: number): void;
    destroy(opts?: unknown, cb?: (err?: Error) => void): void;
  }
  class WebTorrent extends EventEmitter {
    constructor(opts?: Record<string, unknown>);
    peerId: string;
    torrentPort: number;
    torrents: Torrent[];
    add(torrent: Buffer | Uint8Array | string, opts: Record<string, unknown>, onTorrent?: (t: Torrent) => void): Torrent;
    destroy(cb?: (err?: Error) => void): void;
  }
  export default WebTorrent;
  export type { Torrent };
}
declare module 'bittorrent-tracker/server' {
  import type { EventEmitter } from 'node:events';
  import type { IncomingMessage, ServerResponse } from 'node:http';
  /** What bittorrent-tracker parses from an HTTP announce (the fields Shoal reads). */
  export interface AnnounceParams {
    info_hash: string;
    peer_id: string;
    ip: string;
    addr: string;
    port: number;
    numwant: number;
    left?: number;
    event?: string;
    type?: string;
    httpReq?: IncomingMessage;
  }
  export interface TrackerSwarm {
    infoHash: string;
    complete: number;
    incomplete: number;
    peers: { keys: string[]; peek(id: string): { ip: string; port: number; peerId: string; complete: boolean; type: string } | undefined };
    announce(
      params: AnnounceParams,
      cb: (err: Error | null, response?: { peers?: unknown[]; interval?: number; complete?: number; incomplete?: number }) => void,
    ): void;
    _onAnnounceStopped(params: Partial<AnnounceParams>, peer: unknown, id: string): void;
  }
  export default class Server extends EventEmitter {
    static Swarm: new (infoHash: string, server: Server) => TrackerSwarm;
    constructor(opts?: Record<string, unknown>);
    torrents: Record<string, TrackerSwarm>;
    createSwarm(infoHash: string, cb: (err: Error | null, swarm: TrackerSwarm) => void): void;
    onHttpRequest(req: IncomingMessage, res: ServerResponse, opts?: Record<string, unknown>): void;
    close(cb?: () => void): void;
  }
}
declare module 'bittorrent-protocol' {
  import type { Duplex } from 'node:stream';
  class Wire extends Duplex {
    constructor();
    peerId?: string;
    peerChoking: boolean;
    handshake(infoHash: string, peerId: string, extensions?: Record<string, unknown>): void;
    unchoke(): void;
    interested(): void;
    request(index: number, offset: number, length: number, cb: (err: Error | null, buf?: Uint8Array) => void): void;
    piece(index: number, offset: number, buffer: Uint8Array): void;
  }
  export default Wire;
}
declare module 'streamx' {
  class Transform {
    constructor(opts?: {
      transform?(this: Transform, chunk: Uint8Array, callback: (err?: Error | null, data?: Uint8Array) => void): void;
      predestroy?(): void;
    });
    push(data: Uint8Array | null): boolean;
    write(data: Uint8Array): boolean;
    end(): void;
    destroy(err?: Error): void;
    on(event: string, listener: (...args: never[]) => void): this;
  }
  function pipeline(...streams: unknown[]): unknown;
  export { Transform, pipeline };
}
declare module 'webtorrent/lib/peer.js' {
  const Peer: unknown;
  export default Peer;
}

declare module 'bittorrent-dht' {
  import { EventEmitter } from 'node:events';
  interface DHTOptions {
    bootstrap?: string[] | false;
    host?: string | false;
    nodeId?: Buffer | string;
    concurrency?: number;
    maxAge?: number;
  }
  export default class DHT extends EventEmitter {
    constructor(opts?: DHTOptions);
    listen(port: number, address: string, onlistening?: () => void): void;
    address(): { address: string; family: string; port: number };
    announce(infoHash: string | Buffer, port: number, cb?: (err?: Error | null) => void): void;
    lookup(infoHash: string | Buffer, cb?: (err?: Error | null, found?: number) => void): () => void;
    addNode(node: { host: string; port: number }): void;
    toJSON(): { nodes: Array<{ host: string; port: number }> };
    destroy(cb?: () => void): void;
  }
}
declare module 'torrent-piece' {
  const Piece: new (length: number) => unknown;
  export default Piece;
}
