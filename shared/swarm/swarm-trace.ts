/**
 * A debugging aid for swarm efficiency: with SHOAL_SWARM_TRACE=DIR, every process that joins a
 * swarm (PCs and the seeder) appends one JSON line a second to DIR/<label>-<pid>.jsonl with the
 * state of each of its wires (who chokes whom, requests in flight, bytes moved) and the latency of
 * the blocks it received. Off by default: it costs a walk over all pieces per wire each second.
 */
import { appendFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Torrent } from 'webtorrent';
import { torrentInternals } from '../webtorrent/internals.js';
import { isSeederPeerId } from './peer-id.js';
import { lanAddress } from '../lan-address.js';

const EVERY_MS = 1_000;

interface TraceWire {
  peerId?: string;
  type?: string;
  remoteAddress?: string;
  remotePort?: number;
  amInterested: boolean;
  amChoking: boolean;
  peerInterested: boolean;
  peerChoking: boolean;
  requests: unknown[];
  peerRequests: unknown[];
  downloaded: number;
  uploaded: number;
  peerPieces: { get(i: number): boolean };
  request(index: number, offset: number, length: number, cb: (err: Error | null, buf?: Uint8Array) => void): void;
}

export function traceDir(): string | undefined {
  return process.env.SHOAL_SWARM_TRACE || undefined;
}

/** Notes how long after the process started it reached a step of its start-up. */
export function tracePhase(label: string, phase: string): void {
  const dir = traceDir();
  if (!dir) return;
  mkdirSync(dir, { recursive: true });
  appendFileSync(join(dir, `${label}-${process.pid}.phases`), `${JSON.stringify({ phase, at: Date.now(), uptimeMs: Math.round(process.uptime() * 1000) })}\n`);
}

/** Starts tracing a torrent when SHOAL_SWARM_TRACE is set; returns a stop function. */
export function traceSwarm(torrent: Torrent, label: string, extra: () => Record<string, unknown> = () => ({})): () => void {
  const dir = traceDir();
  if (!dir) return () => {};
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `${label}-${process.pid}.jsonl`);
  const t = torrentInternals<TraceWire>(torrent);
  const started = Date.now();
  // When the process started, to tell module loading and registration from the swarm's own start-up.
  appendFileSync(file, `${JSON.stringify({ start: true, at: started, uptimeMs: Math.round(process.uptime() * 1000), lan: lanAddress() })}\n`);
  const last = new Map<TraceWire, { d: number; u: number }>();
  const latencies: number[] = [];
  const rejected = { n: 0 };
  let served: Record<number, number> = {};
  // Bytes received from each peer address since the start, kept whole even for wires closed
  // between two lines: which room this PC's pieces came from (test/root/lab-rooms.test.ts).
  const fromAddress: Record<string, number> = {};
  torrent.on('wire', (wire: TraceWire & { on(e: 'request' | 'download', f: (...a: number[]) => void): void }) => {
    wire.on('download', (bytes) => {
      const from = wire.type === 'webSeed' ? 'web' : (wire.remoteAddress ?? '?');
      fromAddress[from] = (fromAddress[from] ?? 0) + bytes;
    });
    wire.on('request', (index, _offset, length) => {
      served[index] = (served[index] ?? 0) + length;
    });
    const request = wire.request.bind(wire);
    wire.request = (index, offset, length, cb) => {
      const at = Date.now();
      request(index, offset, length, (err, buf) => {
        if (err) rejected.n++;
        else latencies.push(Date.now() - at);
        cb(err, buf);
      });
    };
  });
  const sample = (): void => {
    const n = t.pieces.length;
    const wires = t.wires.map((w) => {
      const prev = last.get(w) ?? { d: 0, u: 0 };
      last.set(w, { d: w.downloaded, u: w.uploaded });
      let useful = 0;
      for (let i = 0; i < n; i++) if (!t.bitfield.get(i) && w.peerPieces.get(i)) useful++;
      return {
        k: w.type === 'webSeed' ? 'W' : isSeederPeerId(w.peerId) ? 'S' : 'P',
        p: w.remotePort,
        ai: +w.amInterested,
        pc: +w.peerChoking,
        ac: +w.amChoking,
        pi: +w.peerInterested,
        rq: w.requests.length,
        prq: w.peerRequests.length,
        d: w.downloaded - prev.d,
        u: w.uploaded - prev.u,
        av: useful,
      };
    });
    for (const w of last.keys()) if (!t.wires.includes(w)) last.delete(w);
    latencies.sort((a, b) => a - b);
    const lat = latencies.length
      ? { n: latencies.length, p50: latencies[latencies.length >> 1], p90: latencies[Math.floor(latencies.length * 0.9)], max: latencies[latencies.length - 1] }
      : undefined;
    latencies.length = 0;
    let have = '';
    for (let i = 0; i < n; i++) have += t.bitfield.get(i) ? '1' : '0';
    const line = {
      t: Date.now() - started,
      at: Date.now(),
      dl: t.downloaded,
      ul: t.uploaded,
      peers: t.numPeers,
      have,
      lat,
      rej: rejected.n,
      srv: served,
      from: fromAddress,
      ...extra(),
      wires,
    };
    rejected.n = 0;
    served = {};
    try {
      appendFileSync(file, `${JSON.stringify(line)}\n`);
    } catch {
      // A trace that cannot be written is not worth failing a deploy for.
    }
  };
  const timer = setInterval(sample, EVERY_MS);
  timer.unref();
  return () => {
    clearInterval(timer);
    // The last bytes in, for a PC that leaves between two lines.
    sample();
  };
}
