/**
 * Start together: a swarm deploy created with minReceivers holds each PC once it is ready (its disk
 * checked, its client loaded; it reports `waiting`) until that many of the group are ready, or
 * maxWaitSeconds after the first one was; then every PC starts within a report of the others.
 *
 * Why a swarm wants it: each PC fetches its own share of the pieces from the storage nodes and
 * passes it on (piece-order.ts), which spreads the seeders' upload only when the shares start
 * together; PCs that trickle in one by one each pull from the seeders what nobody holds yet. It is
 * also what multicast has always done (udp-sender's minimum receivers), so an admin gets one rule
 * for both. Without minReceivers a swarm deploy does not wait: a PC that boots late simply joins.
 */
import type { Knex } from 'knex';
import { logger } from '../../shared/log.js';
import type { TaskHostState } from '../../shared/http/api.js';
import type { TaskRow } from '../db/tables.js';
import { findTask, hostCounts, markFirstReady, openStartGate } from './task-store.js';

const log = logger('portal');

/** A swarm deploy with minReceivers but no maxWaitSeconds waits this long after its first PC. */
export const DEFAULT_START_WAIT_SECONDS = 300;

/** States of a PC that has been ready: it counts toward the start. */
const READY: TaskHostState[] = ['waiting', 'running', 'seeding', 'done'];
const GAVE_UP: TaskHostState[] = ['failed', 'cancelled'];

export type StartGateTask = Pick<TaskRow, 'id' | 'kind' | 'min_receivers' | 'max_wait_seconds' | 'first_ready_ms' | 'started_ms'>;

/** Whether a task's PCs wait for each other: a swarm deploy with minReceivers, not started yet. */
export const holdsStart = (t: StartGateTask): boolean => t.kind === 'deploy' && !!t.min_receivers && t.started_ms === null;

/**
 * Whether the PCs of this task may start now; opens the gate (once, for all) when they may. Called
 * on a waiting PC's report, after its state is written.
 */
export async function mayStart(db: Knex, taskId: number, now = Date.now()): Promise<{ start: boolean; changed: boolean }> {
  const task = await findTask(db, taskId);
  if (!task || !holdsStart(task)) return { start: true, changed: false };
  // Counted by the database: 200 PCs waiting ask twice a second each.
  const counts = await hostCounts(db, taskId);
  const count = (states: TaskHostState[]): number => states.reduce((a, s) => a + counts[s], 0);
  const all = Object.values(counts).reduce((a, n) => a + n, 0);
  const ready = count(READY);
  // A PC that failed before it was ready will not come: waiting for it would only run out the clock.
  const possible = all - count(GAVE_UP);
  let firstReady = task.first_ready_ms === null ? null : Number(task.first_ready_ms);
  if (firstReady === null && ready > 0) {
    firstReady = now;
    await markFirstReady(db, taskId, now);
  }
  const waitMs = (task.max_wait_seconds ?? DEFAULT_START_WAIT_SECONDS) * 1000;
  const enough = ready >= Math.min(task.min_receivers!, possible);
  const waitedOut = firstReady !== null && now - firstReady >= waitMs;
  if (!enough && !waitedOut) return { start: false, changed: false };
  const opened = await openStartGate(db, taskId, now);
  if (opened) {
    log.info(
      { taskId, ready, of: all, waitedMs: firstReady === null ? 0 : now - firstReady },
      enough
        ? `task ${taskId} starts: ${ready} of ${all} PCs ready`
        : `task ${taskId} starts after waiting ${Math.round(waitMs / 1000)} s: ${ready} of ${all} PCs ready`,
    );
  }
  return { start: true, changed: opened };
}
