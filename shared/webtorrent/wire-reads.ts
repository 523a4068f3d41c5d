/**
 * bittorrent-protocol's Wire joins every socket read to what it still holds of the message before
 * it: `concat([leftover, chunk])`, a new buffer and a copy of every byte received, before it parses
 * anything. A PC receives its whole image that way, and then copies every block once more into the
 * piece webtorrent assembles; the join was about a twentieth of a PC's CPU (bench:swarm's
 * client-CPU section under --cpu-prof, 2026-12-04). Here the reads are kept as they came and a
 * message is cut out of them: a view when it lies in one read, a copy of that message alone when
 * it spans two. Encrypted wires (never in a Shoal swarm, which makes none) keep the original.
 */
import { wirePrototype, type WireReadInternals } from './internals.js';

let installed = false;

/** The next `n` bytes of `w`'s unparsed reads, taken off them (n ≤ w._bufferSize). */
function take(w: WireReadInternals, n: number): Uint8Array {
  const first = w._buffer[0]!;
  w._bufferSize -= n;
  if (first.length >= n) {
    if (first.length === n) w._buffer.shift();
    else w._buffer[0] = first.subarray(n);
    return first.subarray(0, n);
  }
  const out = new Uint8Array(n);
  for (let at = 0; at < n;) {
    const chunk = w._buffer[0]!;
    const part = Math.min(chunk.length, n - at);
    out.set(part === chunk.length ? chunk : chunk.subarray(0, part), at);
    at += part;
    if (part === chunk.length) w._buffer.shift();
    else w._buffer[0] = chunk.subarray(part);
  }
  return out;
}

/** Every Wire from now on in this process parses its reads without joining them first. */
export function useWireReads(): void {
  if (installed) return;
  const proto = wirePrototype();
  const original = proto._write;
  installed = true;
  proto._write = function readWithoutJoining(this: WireReadInternals, data, cb) {
    if (this._encryptionMethod === 2 || this._cryptoSyncPattern) return original.call(this, data, cb);
    this._buffer.push(data);
    this._bufferSize += data.length;
    // A parser may switch to the encrypted handshake: the rest is then the original's to read.
    while (this._bufferSize >= this._parserSize && !this._cryptoSyncPattern) {
      this._parser(this._parserSize === 0 ? new Uint8Array() : take(this, this._parserSize));
    }
    cb(null);
  };
}
