/**
 * bittorrent-protocol's Wire joins every socket read to what it still holds of the message before
 * it: `concat([leftover, chunk])`, a new buffer and a copy of every byte received, before it parses
 * anything. A PC receives its whole image that way, and then copies every block once more into the
 * piece webtorrent assembles; the join was about a twentieth of a PC's CPU (bench:swarm's
 * client-CPU section under --cpu-prof, 2026-12-04). Here the reads are kept as they came and a
 * message is cut out of them: a view when it lies in one read, a copy of that message alone when
 * it spans two. Encrypted wires (never in a Shoal swarm, which makes none) keep the original.
 *
 * A 64 KiB block's message is a little longer than a socket read, so nearly every block spans two
 * reads and was copied into fresh, zero-filled memory the collector later frees (glibc's memset of
 * it was most of what a swarm PC spent in memset under `perf`, and it drove a third of the PC's
 * scavenges). Where the receiver copies each block before the call that hands it out returns
 * (client/swarm/piece-buffers.ts does), a spanning block's message is joined in one buffer the
 * wire keeps and lends again: see lendPieceBlocks.
 */
import { wirePrototype, type WireReadInternals } from './internals.js';

let installed = false;
/** Whether a piece message may be handed out as a view of memory the wire reuses (see lendPieceBlocks). */
let lending = false;
/** bittorrent-protocol's own message parser, and the message id of a block ('piece'). */
let onMessage: WireReadInternals['_parser'] | undefined;
const PIECE_MESSAGE = 7;
/** The buffer each wire joins its spanning blocks' messages in. */
const joinBuffers = new WeakMap<WireReadInternals, Uint8Array>();

/** Where the next `n` bytes are joined: the wire's own buffer for a block's message while lending, else fresh memory. */
function joinTarget(w: WireReadInternals, n: number): Uint8Array {
  if (!lending || w._parser !== onMessage || w._buffer[0]![0] !== PIECE_MESSAGE) return new Uint8Array(n);
  let memory = joinBuffers.get(w);
  if (!memory || memory.length < n) joinBuffers.set(w, (memory = new Uint8Array(n)));
  return memory.subarray(0, n);
}

/** The next `n` bytes of `w`'s unparsed reads, taken off them (n ≤ w._bufferSize). */
function take(w: WireReadInternals, n: number): Uint8Array {
  const first = w._buffer[0]!;
  w._bufferSize -= n;
  if (first.length >= n) {
    if (first.length === n) w._buffer.shift();
    else w._buffer[0] = first.subarray(n);
    return first.subarray(0, n);
  }
  const out = joinTarget(w, n);
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
  onMessage = proto._onMessage;
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

/**
 * From now on a block that spans two reads is handed to the wire's 'piece' handlers as a view of a
 * buffer the wire joins its next such block in. Only for a process where nothing keeps a view of a
 * block after the wire's 'piece' call returns (every handler copies it, or reads it and lets go),
 * as a swarm PC assembling its pieces in client/swarm/piece-buffers.ts; a block within one read
 * stays a view of that read.
 */
export function lendPieceBlocks(): void {
  useWireReads();
  lending = true;
}
