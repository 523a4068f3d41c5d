/**
 * The upload limit of a seeder or PC, enforced on the blocks it sends, finishing one peer's piece
 * before starting another's. webtorrent's own limit (speed-limiter) splits the uplink evenly over
 * every wire with data queued: a 4 MiB piece asked for by 15 PCs at once reaches each of them at a
 * fifteenth of the link, so none of them holds it (and can pass it on) until all of them do, 30 s
 * later at 2 MiB/s. Sent one after the other, the first has it in 2 s and serves others as well;
 * the copies double every piece time. The same holds for a seeder serving 16 shares at start.
 * So blocks wait here, and the next one sent is that of the peer and piece with the most bytes
 * sent already (ties: the oldest); a block waiting longer than WAIT_LIMIT_MS goes first, so that
 * no peer's requests time out (webtorrent drops a wire after 30 s without a block).
 */
import type { Torrent } from 'webtorrent';

const WAIT_LIMIT_MS = 15_000;
/**
 * The bucket holds half a second's worth. Less starves a process whose event loop runs late (a
 * loaded machine): with a 50 ms bucket the seeder sent at half its rate on the 2-core bench.
 */
const BURST_SECONDS = 0.5;

export interface PacedWire {
  peerId?: string;
  destroyed: boolean;
  piece(index: number, offset: number, buffer: Uint8Array): void;
}

interface Waiting {
  wire: PacedWire;
  key: string;
  index: number;
  bytes: number;
  since: number;
  send: () => void;
}

export class UploadPacer {
  private readonly queue: Waiting[] = [];
  /** Bytes sent per peer and piece; a peer's entries go with its last wire. */
  private readonly sent = new Map<string, Map<number, number>>();
  private readonly wires = new Map<string, number>();
  private tokens = 0;
  private last = Date.now();
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private nextId = 0;

  constructor(private readonly bytesPerSec: number) {
    if (!(bytesPerSec > 0)) throw new Error(`an upload pacer needs a positive rate, not ${bytesPerSec}`);
  }

  /** Paces the blocks sent on every wire the torrent gets from now on. */
  attach(torrent: Torrent): void {
    torrent.on('wire', (wire: PacedWire & { once(e: 'close', f: () => void): void }) => this.pace(wire, torrent.infoHash));
  }

  /** `swarm`: piece indexes of different torrents (a seeder's images) are different pieces. */
  pace(wire: PacedWire & { once(e: 'close', f: () => void): void }, swarm = ''): void {
    const key = `${swarm}:${wire.peerId ?? `wire-${this.nextId++}`}`;
    this.wires.set(key, (this.wires.get(key) ?? 0) + 1);
    wire.once('close', () => {
      const left = (this.wires.get(key) ?? 1) - 1;
      if (left > 0) this.wires.set(key, left);
      else {
        this.wires.delete(key);
        this.sent.delete(key);
      }
    });
    const piece = wire.piece.bind(wire);
    wire.piece = (index, offset, buffer) => {
      if (this.stopped) return; // leaving the swarm: nothing more goes out
      this.queue.push({ wire, key, index, bytes: buffer.length, since: Date.now(), send: () => piece(index, offset, buffer) });
      this.drain();
    };
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    this.queue.length = 0;
  }

  private pick(now: number): number {
    if (now - this.queue[0]!.since > WAIT_LIMIT_MS) return 0;
    let best = 0;
    let bestSent = -1;
    for (let i = 0; i < this.queue.length; i++) {
      const w = this.queue[i]!;
      const s = this.sent.get(w.key)?.get(w.index) ?? 0;
      if (s > bestSent) {
        best = i;
        bestSent = s;
      }
    }
    return best;
  }

  private drain(): void {
    if (this.timer || this.stopped) return;
    const now = Date.now();
    this.tokens = Math.min(this.bytesPerSec * BURST_SECONDS, this.tokens + ((now - this.last) / 1000) * this.bytesPerSec);
    this.last = now;
    // Tokens may go below zero by one block: the wait that follows pays it back.
    while (this.queue.length && this.tokens > 0) {
      const [w] = this.queue.splice(this.pick(now), 1);
      if (!w || w.wire.destroyed) continue;
      this.tokens -= w.bytes;
      let perPiece = this.sent.get(w.key);
      if (!perPiece) this.sent.set(w.key, (perPiece = new Map<number, number>()));
      perPiece.set(w.index, (perPiece.get(w.index) ?? 0) + w.bytes);
      w.send();
    }
    if (!this.queue.length) return;
    const waitMs = Math.max(1, Math.ceil((-this.tokens / this.bytesPerSec) * 1000));
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.drain();
    }, waitMs);
  }
}
