/**
 * Password hashing on a thread of its own. scrypt is slow on purpose, and Node's async scrypt
 * runs on libuv's four shared threads, the same the sqlite3 driver queries on: fifty wrong
 * logins at once held every progress report of 200 PCs behind them. Here the hash blocks this
 * thread only (scryptSync), one at a time.
 */
import { parentPort } from 'node:worker_threads';
import { scryptSync } from 'node:crypto';

export interface HashJob {
  id: number;
  password: string;
  salt: Uint8Array;
  keylen: number;
}

parentPort!.on('message', (job: HashJob) => {
  try {
    parentPort!.postMessage({ id: job.id, hash: scryptSync(job.password, job.salt, job.keylen) });
  } catch (err) {
    parentPort!.postMessage({ id: job.id, error: (err as Error).message });
  }
});
