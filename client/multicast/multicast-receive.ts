/**
 * The PC's side of a multicast session: udp-receiver hands over the seeder's stream, which this
 * cuts into pieces of the image's piece length. Each piece names itself in its header; it is taken
 * only when that names this manifest's image and one of its pieces, and its SHA-1 matches the one
 * the manifest (and torrent) give for that piece. A stream of another image is refused at its first
 * piece and the receiver stopped: nothing of it reaches the disk. A piece lost or damaged on the
 * way is simply missing afterwards, for the caller to fetch over unicast.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { ShoalError } from '../../shared/errors.js';
import { torrentPieces, type Manifest } from '../../shared/image/manifest.js';
import { parsePieceHeader } from '../../shared/image/piece-codec.js';
import { logger } from '../../shared/log.js';

const log = logger('multicast');

export interface MulticastReceiveOptions {
  manifest: Manifest;
  portbase: number;
  interface?: string;
  /** Give up when no sender has started a session within this many seconds. */
  startTimeoutSeconds: number;
  /** A verified piece, by torrent index; awaited before more of the stream is read. */
  onPiece(index: number, bytes: Buffer): Promise<void> | void;
  /** A command to run udp-receiver under, e.g. ["ip", "netns", "exec", "ns"] (the lab simulator). */
  launcher?: string[];
  /** Stops the receiver. */
  signal?: AbortSignal;
}

export interface MulticastReceived {
  /** Pieces taken (verified and handed to onPiece). */
  taken: number;
  /** Pieces that came damaged (bad header or SHA-1). */
  damaged: number;
  /** udp-receiver's exit code. */
  code: number | null;
}

export async function receiveMulticast(o: MulticastReceiveOptions): Promise<MulticastReceived> {
  const m = o.manifest;
  const byIdentity = new Map<string, { index: number; sha1: string }>();
  let t = 0;
  for (const { area, index, piece } of torrentPieces(m)) byIdentity.set(`${area.id}/${index}`, { index: t++, sha1: piece.sha1 });
  const args = [
    '--nokbd',
    '--no-progress',
    '--portbase',
    String(o.portbase),
    '--start-timeout',
    String(o.startTimeoutSeconds),
    ...(o.interface ? ['--interface', o.interface] : []),
  ];
  const [cmd, ...pre] = o.launcher?.length ? [...o.launcher, 'udp-receiver'] : ['udp-receiver'];
  const child = spawn(cmd, [...pre, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d) => (stderr = (stderr + d).slice(-4000)));
  o.signal?.addEventListener('abort', () => child.kill('SIGTERM'), { once: true });
  const exited = new Promise<number | null>((resolve, reject) => {
    child.once('error', (err) => reject(new ShoalError(`udp-receiver: ${err.message} (is udpcast installed?)`)));
    child.once('exit', (code) => resolve(code));
  });
  let taken = 0;
  let damaged = 0;
  const seen = new Set<number>();
  const pending: Buffer[] = [];
  let pendingBytes = 0;
  try {
    for await (const chunk of child.stdout as AsyncIterable<Buffer>) {
      pending.push(chunk);
      pendingBytes += chunk.length;
      while (pendingBytes >= m.pieceLength) {
        const all = Buffer.concat(pending);
        const bytes = all.subarray(0, m.pieceLength);
        pending.length = 0;
        pending.push(all.subarray(m.pieceLength));
        pendingBytes = all.length - m.pieceLength;
        let header;
        try {
          header = parsePieceHeader(bytes);
        } catch {
          damaged++;
          continue;
        }
        if (header.imageId !== m.imageId) {
          throw new ShoalError(
            `the multicast stream on port ${o.portbase} is of another image (id ${header.imageId}, this PC deploys ${m.name} v${m.version}, id ${m.imageId}): refused, nothing of it written`,
          );
        }
        const want = byIdentity.get(`${header.areaId}/${header.index}`);
        if (!want || createHash('sha1').update(bytes).digest('hex') !== want.sha1) {
          damaged++;
          continue;
        }
        if (seen.has(want.index)) continue;
        seen.add(want.index);
        await o.onPiece(want.index, Buffer.from(bytes));
        taken++;
      }
    }
  } finally {
    if (child.exitCode === null) child.kill('SIGTERM');
  }
  const code = await exited;
  if (code !== 0 && taken === 0)
    throw new ShoalError(`udp-receiver got no stream on port ${o.portbase} (exit ${code}): ${stderr.trim().split('\n').slice(-2).join(' | ')}`);
  log.info({ taken, damaged, code }, 'multicast stream over');
  return { taken, damaged, code };
}
