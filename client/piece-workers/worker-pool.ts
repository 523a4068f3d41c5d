import { Worker } from 'node:worker_threads';
import { availableParallelism } from 'node:os';
import { ShoalError } from '../../shared/errors.js';

/**
 * A fixed set of worker threads taking jobs from a queue. Jobs reply any number of times and
 * end with a reply of type 'done' or 'error'. (Piscina and the like return one value per task;
 * a capture job streams a reply per piece, which is what drives the progress bar.)
 */
export class WorkerPool<Job extends { jobId: number }, Reply extends { type: string; jobId: number }> {
  private readonly workers: Worker[];
  private readonly idle: Worker[] = [];
  private readonly queue: Array<{ job: Job; onReply: (r: Reply) => void; resolve: () => void; reject: (e: Error) => void; transfer?: ArrayBuffer[] }> = [];
  private readonly running = new Map<Worker, (typeof this.queue)[number]>();
  private failure: Error | undefined;

  constructor(script: URL, workerData: unknown, size = availableParallelism()) {
    this.workers = Array.from({ length: Math.max(1, size) }, () => {
      const w = new Worker(script, { workerData });
      w.on('message', (r: Reply) => this.onMessage(w, r));
      w.on('error', (err) => this.onCrash(w, err));
      w.on('exit', (code) => {
        if (this.running.has(w)) this.onCrash(w, new Error(`a worker thread exited (code ${code}) in the middle of a job`));
      });
      this.idle.push(w);
      return w;
    });
  }

  get size(): number {
    return this.workers.length;
  }

  /** `transfer`: buffers the job carries that move to the worker rather than being copied. */
  run(job: Job, onReply: (r: Reply) => void, transfer?: ArrayBuffer[]): Promise<void> {
    if (this.failure) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => {
      this.queue.push({ job, onReply, resolve, reject, ...(transfer && { transfer }) });
      this.dispatch();
    });
  }

  private dispatch(): void {
    while (this.idle.length && this.queue.length) {
      const w = this.idle.pop()!;
      const entry = this.queue.shift()!;
      this.running.set(w, entry);
      w.postMessage(entry.job, entry.transfer ?? []);
    }
  }

  private onMessage(w: Worker, r: Reply): void {
    const entry = this.running.get(w);
    if (!entry) return;
    if (r.type === 'done' || r.type === 'error') {
      this.running.delete(w);
      this.idle.push(w);
      if (r.type === 'error') entry.reject(new ShoalError((r as unknown as { message: string }).message));
      else {
        entry.onReply(r);
        entry.resolve();
      }
      this.dispatch();
    } else entry.onReply(r);
  }

  private onCrash(w: Worker, err: Error): void {
    this.failure = err;
    this.running.get(w)?.reject(err);
    this.running.delete(w);
    for (const q of this.queue.splice(0)) q.reject(err);
  }

  async close(): Promise<void> {
    this.failure ??= new Error('worker pool closed');
    await Promise.all(this.workers.map((w) => w.terminate()));
  }
}
