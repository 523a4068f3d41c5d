/**
 * A multicast session: udp-sender (Debian's udpcast, as FOG uses) streams an image's piece files,
 * in torrent order, to every PC listening on its port base. It starts when `minReceivers` PCs are
 * in or `maxWaitSeconds` after the first one came, whichever is first. Every piece carries its
 * image id, area and index in its own header, so a PC checks what it receives against its own
 * manifest and a stream of another image can never land on its disk.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createReadStream } from 'node:fs';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Readable } from 'node:stream';
import { logger } from '../shared/log.js';

const log = logger('multicast');
const RETRIES_UNTIL_DROP = 20;

export interface MulticastSenderOptions {
  /** The image's directory in the store, and its piece files in torrent order. */
  imageDir: string;
  pieceFiles: string[];
  portbase: number;
  /** The network interface to send on (default: udpcast's choice). */
  interface?: string;
  minReceivers: number;
  maxWaitSeconds: number;
  /** udpcast's --max-bitrate, e.g. "100m": a multicast can swamp a switch port. */
  maxBitrate?: string;
  /** A command to run udp-sender under, e.g. ["ip", "netns", "exec", "ns"] (the lab simulator). */
  launcher?: string[];
}

/** What udp-sender's own lines said so far: still waiting or streaming, and who is in. */
export interface SenderStatus {
  streaming: boolean;
  receivers: number;
  firstJoinedMs: number | null;
}

export interface MulticastSender {
  /** Settles with udp-sender's exit code once the stream is over. */
  done: Promise<number | null>;
  stop(): void;
  status(): SenderStatus;
}

/** Follows udp-sender's stderr: "New connection from …", "Starting transfer", "Disconnecting #…", "dropped client #…". */
function followStatus(status: SenderStatus, line: string): void {
  if (line.startsWith('New connection from')) {
    status.receivers++;
    status.firstJoinedMs ??= Date.now();
  } else if (line.startsWith('Starting transfer')) status.streaming = true;
  else if (/^Disconnecting #|ropped client #/.test(line)) status.receivers = Math.max(0, status.receivers - 1);
}

export function startMulticastSender(o: MulticastSenderOptions): MulticastSender {
  const args = [
    '--nokbd',
    '--no-progress',
    '--portbase',
    String(o.portbase),
    '--min-receivers',
    String(o.minReceivers),
    '--max-wait',
    String(o.maxWaitSeconds),
    // A PC that vanished (or refused the stream) is dropped after this many unanswered retransmit
    // requests, instead of holding every other PC back for minutes.
    '--retries-until-drop',
    String(RETRIES_UNTIL_DROP),
    ...(o.interface ? ['--interface', o.interface] : []),
    ...(o.maxBitrate ? ['--max-bitrate', o.maxBitrate] : []),
  ];
  const [cmd, ...pre] = o.launcher?.length ? [...o.launcher, 'udp-sender'] : ['udp-sender'];
  const child: ChildProcess = spawn(cmd, [...pre, ...args], { stdio: ['pipe', 'ignore', 'pipe'] });
  let stderr = '';
  let partial = '';
  const status: SenderStatus = { streaming: false, receivers: 0, firstJoinedMs: null };
  child.stderr!.on('data', (d) => {
    stderr = (stderr + d).slice(-4000);
    const lines = (partial + d).split('\n');
    partial = lines.pop()!.slice(-4000);
    for (const line of lines) followStatus(status, line.trim());
  });
  const files = o.pieceFiles.map((f) => join(o.imageDir, f));
  async function* stream(): AsyncGenerator<Buffer> {
    for (const f of files) for await (const chunk of createReadStream(f)) yield chunk as Buffer;
  }
  // udp-sender closes its input when every receiver has left: that is not a failure.
  pipeline(Readable.from(stream()), child.stdin!).catch((err: Error) => log.debug({ err: err.message }, 'udp-sender stopped reading'));
  const done = new Promise<number | null>((resolve, reject) => {
    child.once('error', (err) => reject(new Error(`udp-sender: ${err.message} (is udpcast installed?)`)));
    child.once('exit', (code) => {
      if (code !== 0) log.warn({ code, stderr: stderr.trim().split('\n').slice(-3).join(' | ') }, 'udp-sender ended badly');
      resolve(code);
    });
  });
  log.info(
    { portbase: o.portbase, files: o.pieceFiles.length, minReceivers: o.minReceivers, maxWaitSeconds: o.maxWaitSeconds },
    'multicast session waiting for receivers',
  );
  return { done, stop: () => void child.kill('SIGTERM'), status: () => ({ ...status }) };
}
