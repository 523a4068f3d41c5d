/**
 * The loop of a piece worker thread: each job the pool posts is run in turn, and one that throws
 * answers `error` with its id (the pool fails that job, not the thread), so the worker stays for
 * the next.
 */
import { parentPort } from 'node:worker_threads';

export function serveJobs<J extends { jobId: number }>(run: (job: J) => void): void {
  parentPort!.on('message', (job: J) => {
    try {
      run(job);
    } catch (err) {
      parentPort!.postMessage({ type: 'error', jobId: job.jobId, message: (err as Error).message });
    }
  });
}
