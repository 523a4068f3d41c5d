/**
 * A download limit shared by every request in flight: each chunk read is booked, and the reader
 * waits what reserve() says, or stops only once it is too far ahead (holdAfter). A short burst is
 * allowed, so that a limit leaves TCP's window room to grow.
 */
const BURST_MS = 250;
/**
 * How far a reader may run ahead of the limit before it stops reading (bytes wait in the kernel
 * meanwhile). Holding back every chunk that overdraws the limit at all cost a timer and a socket
 * pause per 64 KiB read (128 a second at 8 MiB/s); this way a limited download wakes about 20
 * times a second. The limit's average is kept: each chunk is booked, and a wait lasts its whole booking.
 * Unicast's requests read this way; so do the swarm's connections, while no other connection's
 * read waits (client/swarm/download-limit.ts says why).
 */
export const READ_AHEAD_MS = 50;

export class ByteThrottle {
  private readyAt = 0;

  /** bytes/s; 0 or less: no limit. */
  constructor(private readonly bytesPerSec: number) {}

  /** Books `bytes` behind everything booked before; returns how many ms to wait before using them. */
  reserve(bytes: number): number {
    if (!(this.bytesPerSec > 0)) return 0;
    const now = Date.now();
    this.readyAt = Math.max(this.readyAt, now - BURST_MS) + (bytes * 1000) / this.bytesPerSec;
    return this.readyAt - now;
  }

  /** Books `bytes`; how many ms the reader should stop before its next read: 0 while it is less than READ_AHEAD_MS ahead. */
  holdAfter(bytes: number): number {
    const waitMs = this.reserve(bytes);
    return waitMs > READ_AHEAD_MS ? waitMs : 0;
  }
}
