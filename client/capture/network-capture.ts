/**
 * A capture task run by `shoal join`: the PC's disks are captured straight to a storage node
 * (client/capture/upload-sink.ts), with progress reports every second. The local scratch holds only the
 * few pieces not yet sent. The upload's id goes to the portal first thing, so a PC restarted after
 * a cut resumes the same upload and sends only what did not arrive.
 */
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import type { HostTask, Progress as ProgressReport } from '../../shared/http/api.js';
import { errorMessage } from '../../shared/errors.js';
import type { Manifest } from '../../shared/image/manifest.js';
import { logger } from '../../shared/log.js';
import { isAlive } from '../../shared/image/store.js';
import { capture } from './capture-disk.js';
import type { Progress } from '../console/progress.js';
import { uploadSink } from './upload-sink.js';

const log = logger('client');
const REPORT_EVERY_MS = 1_000;
const SCRATCH_PREFIX = 'shoal-capture-';

/** Scratch left by captures whose process is gone (killed, power cut on a machine that kept /tmp). */
async function sweepScratch(): Promise<void> {
  for (const e of await readdir(tmpdir()).catch(() => [] as string[])) {
    const pid = Number(/^shoal-capture-(\d+)-/.exec(e)?.[1]);
    if (pid && !isAlive(pid)) await rm(join(tmpdir(), e), { recursive: true, force: true });
  }
}

type CaptureTask = Extract<HostTask, { kind: 'capture' }>;

export async function captureForTask(o: {
  task: CaptureTask;
  disks: string[];
  report: (p: ProgressReport) => Promise<unknown>;
  progress?: (label: string, totalBytes: number) => Progress;
  uploadLimitBytesPerSec?: number;
}): Promise<{ manifest: Manifest; sentBytes: number; skipped: number }> {
  let uploadId = o.task.resume;
  let done = 0;
  let total = 0;
  const sink = uploadSink({
    nodeUrl: o.task.nodeUrl,
    key: o.task.key,
    resume: o.task.resume,
    version: o.task.version,
    limitBytesPerSec: o.uploadLimitBytesPerSec,
    onOpen: async (id) => {
      uploadId = id;
      await send('running');
    },
  });
  const send = async (state: ProgressReport['state'], error?: string): Promise<void> => {
    try {
      await o.report({
        state,
        piecesDone: 0,
        piecesTotal: 0,
        bytesDone: done,
        bytesTotal: total,
        downloadBytesPerSec: 0,
        uploadBytesPerSec: 0,
        downloadedBytes: 0,
        uploadedBytes: sink.sentBytes,
        fromStorageBytes: 0,
        peers: 0,
        ...(uploadId && { uploadId }),
        ...(error && { error: error.slice(0, 2000) }),
      });
    } catch (err) {
      log.warn({ err: errorMessage(err) }, 'progress report failed');
    }
  };
  const ticker = setInterval(() => void send('running'), REPORT_EVERY_MS).unref();
  await sweepScratch();
  const scratch = await mkdtemp(join(tmpdir(), `${SCRATCH_PREFIX}${process.pid}-`));
  try {
    const { manifest } = await capture({
      disks: o.disks,
      store: scratch,
      image: o.task.image,
      type: o.task.type,
      remote: sink,
      progress: (label, totalBytes) => {
        total = totalBytes;
        const bar = o.progress?.(label, totalBytes);
        return {
          update: (n) => {
            done = n;
            bar?.update(n);
          },
          stop: () => bar?.stop(),
        };
      },
    });
    clearInterval(ticker);
    await send('done');
    return { manifest, sentBytes: sink.sentBytes, skipped: sink.skipped };
  } catch (err) {
    clearInterval(ticker);
    await send('failed', errorMessage(err));
    throw err;
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}
