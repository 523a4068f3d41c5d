/**
 * webtorrent joins every connection to its BitTorrent wire through four stream stages: a
 * speed-limiter Throttle each way (async, a promise per chunk, even with no limit set) and a
 * Transform each way that only counts bytes. Shoal never uses webtorrent's upload limit (an
 * upload limit is the UploadPacer's, on the wire's blocks) and sets its download limit only on
 * request, so by default all four do nothing but cost: each is a streamx stage a chunk crosses
 * in its own microtasks, for every socket read and every message sent. Here a connection goes
 * straight to its wire and back, a Throttle kept only where its limit is on, and the bytes are
 * counted on the socket itself (the same `download`/`upload` events webtorrent's stats read), and
 * what the wire writes in one tick leaves the socket together.
 */
import { peerPrototype } from './internals.js';
import { pipeline } from 'streamx';

interface ThrottleGroupLike {
  throttle(): unknown;
  getEnabled?(): boolean;
}

interface PeerInternals {
  conn: {
    on(e: 'data', f: (chunk: Uint8Array) => void): void;
    write(chunk: Uint8Array, ...rest: unknown[]): boolean;
    /** net.Socket's; a connection without them (none in a LAN client today) writes as it comes. */
    cork?(): void;
    uncork?(): void;
  };
  wire: unknown;
  destroyed: boolean;
  throttleGroups: { down: ThrottleGroupLike; up: ThrottleGroupLike };
  emit(event: string, n: number): boolean;
}

/** A group with no getEnabled is Shoal's own (client/swarm/download-limit.ts), set only with a limit. */
const limiting = (g: ThrottleGroupLike): boolean => (typeof g.getEnabled === 'function' ? g.getEnabled() : true);

let installed = false;

/** Every webtorrent connection made from now on in this process takes the direct pipes. */
export function useDirectPipes(): void {
  if (installed) return;
  const proto = peerPrototype();
  installed = true;
  proto.setThrottlePipes = function setDirectPipes(this: PeerInternals) {
    const { conn, wire, throttleGroups: groups } = this;
    // A 'data' listener sets the socket flowing, but only from the next tick: the pipeline below,
    // set up in this same tick, gets every chunk too.
    conn.on('data', (chunk) => {
      if (!this.destroyed) this.emit('download', chunk.length);
    });
    const write = conn.write.bind(conn);
    const canCork = typeof conn.cork === 'function' && typeof conn.uncork === 'function';
    let corked = false;
    const release = (): void => {
      corked = false;
      conn.uncork!();
    };
    conn.write = (chunk, ...rest) => {
      if (!this.destroyed) this.emit('upload', chunk.length);
      // What a wire sends in one tick leaves in one writev: webtorrent asks its requests in a
      // loop, and bittorrent-protocol pushes a block's header and its bytes apart, so each was a
      // send() of its own (a lone PC's socket writes were 7 % of its main thread's CPU unlimited
      // and 12 % at 8 MiB/s, one send per 17-byte request: docs/benchmarks.md).
      if (!corked && canCork) {
        corked = true;
        conn.cork!();
        process.nextTick(release);
      }
      return write(chunk, ...rest);
    };
    const stages = [conn, ...(limiting(groups.down) ? [groups.down.throttle()] : []), wire, ...(limiting(groups.up) ? [groups.up.throttle()] : []), conn];
    pipeline(...stages);
  };
}
