/**
 * webtorrent joins every connection to its BitTorrent wire through four stream stages: a
 * speed-limiter Throttle each way (async, a promise per chunk, even with no limit set) and a
 * Transform each way that only counts bytes. Shoal never uses webtorrent's upload limit (an
 * upload limit is the UploadPacer's, on the wire's blocks) and sets its download limit only on
 * request, so by default all four do nothing but cost: each is a streamx stage a chunk crosses
 * in its own microtasks, for every socket read and every message sent. Here what a connection
 * reads goes to its wire's parser as it is read, its bytes counted on the socket itself (the same
 * `download`/`upload` events webtorrent's stats read), and what the wire writes in one tick leaves
 * the socket together.
 *
 * Reads are handed to the wire from the socket's 'data' event rather than piped, so that a
 * download limit decides per read and holds one back by pausing the socket, without a stream
 * stage in between: Shoal's (`DownloadGate`, client/swarm/download-limit.ts) lets reads run a
 * little ahead and then stops the socket for a while, where a Throttle stage stopped it after
 * every read. The wire parses each read synchronously (wire-reads.ts), so nothing queues in front
 * of it; what the PC cannot keep up with waits in the kernel. With no limit this costs what the
 * pipe did (whole-run CPU alike, no pause either way). webtorrent's own limit, if ever set, keeps
 * its Throttle stage in a pipe.
 */
import { peerPrototype } from './internals.js';
import { pipeline } from 'streamx';

interface ThrottleGroupLike {
  throttle(): unknown;
  getEnabled?(): boolean;
}

/**
 * A download limit that decides per read (Shoal's). `hold` books `bytes` and says whether the read
 * must wait; if so, it calls `release` once the read's time has come.
 */
export interface DownloadGate {
  hold(bytes: number, release: () => void): boolean;
}

const isGate = (g: unknown): g is DownloadGate => typeof (g as Partial<DownloadGate>).hold === 'function';

interface PeerInternals {
  conn: {
    on(e: 'data', f: (chunk: Uint8Array) => void): void;
    pause(): void;
    resume(): void;
    write(chunk: Uint8Array, ...rest: unknown[]): boolean;
    /** net.Socket's; a connection without them (none in a LAN client today) writes as it comes. */
    cork?(): void;
    uncork?(): void;
  };
  wire: { write(chunk: Uint8Array): boolean };
  destroyed: boolean;
  throttleGroups: { down: ThrottleGroupLike | DownloadGate; up: ThrottleGroupLike };
  emit(event: string, n: number): boolean;
}

/** webtorrent's speed-limiter group, when its limit is on. */
const limiting = (g: ThrottleGroupLike | DownloadGate): g is ThrottleGroupLike => !isGate(g) && typeof g.getEnabled === 'function' && g.getEnabled();

let installed = false;

/** Every webtorrent connection made from now on in this process takes the direct pipes. */
export function useDirectPipes(): void {
  if (installed) return;
  const proto = peerPrototype();
  installed = true;
  proto.setThrottlePipes = function setDirectPipes(this: PeerInternals) {
    const { conn, wire, throttleGroups: groups } = this;
    const down = groups.down;
    const gate = isGate(down) ? down : undefined;
    const piped = limiting(down);
    // Reads held back by the gate, oldest first: the socket is paused meanwhile, but a read it had
    // already taken in may still come, and the wire must get them all in order.
    const held: Uint8Array[] = [];
    const pass = (chunk: Uint8Array): void => {
      if (!gate) return void wire.write(chunk);
      if (held.length > 0) return void held.push(chunk);
      if (!gate.hold(chunk.length, release)) return void wire.write(chunk);
      held.push(chunk);
      conn.pause();
    };
    // A connection closed meanwhile drops what it held: the wire is gone with it.
    const release = (): void => {
      const chunk = held.shift()!;
      if (this.destroyed) return void (held.length = 0);
      wire.write(chunk);
      const next = held.splice(0);
      for (const c of next) pass(c);
      if (held.length === 0) conn.resume();
    };
    conn.on('data', (chunk) => {
      if (this.destroyed) return;
      this.emit('download', chunk.length);
      if (!piped) pass(chunk);
    });
    const write = conn.write.bind(conn);
    const canCork = typeof conn.cork === 'function' && typeof conn.uncork === 'function';
    let corked = false;
    const uncork = (): void => {
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
        process.nextTick(uncork);
      }
      return write(chunk, ...rest);
    };
    const up = limiting(groups.up) ? [groups.up.throttle()] : [];
    if (piped) pipeline(conn, down.throttle(), wire, ...up, conn);
    else pipeline(wire, ...up, conn);
  };
}
