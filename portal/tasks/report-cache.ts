/**
 * What keeps 200 PCs' progress reports (one a second each) cheap. Most reports only move numbers:
 * those are answered from memory and written to the database in one transaction every FLUSH_MS
 * (write-behind: a crash loses at most that much progress, which the next report restores). A
 * report that changes a host's state is written at once by the route, which then tells this cache.
 * Each host's key and state are read once from the database; the group's "done" at most once a
 * second per task.
 *
 * The cache is this process's; portals sharing a PostgreSQL database tell each other what they
 * forget or change (db/cluster-bus.ts), so a key renewed on one is not still taken by another.
 */
import type { Knex } from 'knex';
import type { TaskHostState } from '../../shared/http/api.js';
import { logger } from '../../shared/log.js';
import { reportingHost, updateTaskHost } from './task-store.js';
import { localBus, type ClusterBus } from '../db/cluster-bus.js';

const FLUSH_MS = 250;
const GROUP_DONE_TTL_MS = 1_000;
const log = logger('portal');

export interface ReportingHost {
  key: string;
  state: TaskHostState;
  name: string | null;
  /** The address the key went to (portal/tasks/task-routes.ts claimTaskKey), null before anyone asked. */
  keyIp: string | null;
  /** The host proved it holds the image (portal/tasks/proof.ts). */
  proven: boolean;
}

const id = (taskId: number, mac: string): string => `${taskId}/${mac}`;

export class ReportCache {
  private readonly hosts = new Map<string, ReportingHost>();
  private readonly pending = new Map<string, { taskId: number; mac: string; progress: string; updatedMs: number }>();
  private readonly groupDone = new Map<number, { at: number; done: boolean }>();
  private readonly timer: NodeJS.Timeout;
  private flushing: Promise<void> = Promise.resolve();

  private readonly unsubscribe: Array<() => void>;

  constructor(
    private readonly db: Knex,
    private readonly bus: ClusterBus = localBus(),
  ) {
    this.timer = setInterval(() => void this.flush(), FLUSH_MS);
    this.timer.unref();
    this.unsubscribe = [
      bus.on('reports.forget', (m) => {
        const { taskId, mac } = m as { taskId: number; mac?: string };
        if (mac === undefined) this.forgetTask(taskId, false);
        else this.forget(taskId, mac, false);
      }),
      bus.on('reports.state', (m) => {
        const { taskId, mac, state } = m as { taskId: number; mac: string; state: TaskHostState };
        this.stateWritten(taskId, mac, state, false);
      }),
    ];
  }

  async host(taskId: number, mac: string): Promise<ReportingHost | undefined> {
    const cached = this.hosts.get(id(taskId, mac));
    if (cached) return cached;
    const row = await reportingHost(this.db, taskId, mac);
    if (!row) return undefined;
    const host: ReportingHost = { key: row.key, state: row.state, name: row.name ?? null, keyIp: row.key_ip ?? null, proven: Boolean(row.proven_ms) };
    this.hosts.set(id(taskId, mac), host);
    return host;
  }

  /** The host's state or key changed elsewhere (boot, key renewal): read it again next time. */
  forget(taskId: number, mac: string, tell = true): void {
    this.hosts.delete(id(taskId, mac));
    if (tell) this.bus.publish('reports.forget', { taskId, mac });
  }

  forgetTask(taskId: number, tell = true): void {
    for (const k of this.hosts.keys()) if (k.startsWith(`${taskId}/`)) this.hosts.delete(k);
    for (const [k, p] of this.pending) if (p.taskId === taskId) this.pending.delete(k);
    this.groupDone.delete(taskId);
    if (tell) this.bus.publish('reports.forget', { taskId });
  }

  /** A report that moved only numbers: written with the next batch. */
  buffer(taskId: number, mac: string, progress: string, updatedMs: number): void {
    this.pending.set(id(taskId, mac), { taskId, mac, progress, updatedMs });
  }

  /** A state change was written by the route: drop the older buffered numbers, note the state. */
  stateWritten(taskId: number, mac: string, state: TaskHostState, tell = true): void {
    this.pending.delete(id(taskId, mac));
    const h = this.hosts.get(id(taskId, mac));
    if (h) h.state = state;
    this.groupDone.delete(taskId);
    if (tell) this.bus.publish('reports.state', { taskId, mac, state });
  }

  async isGroupDone(taskId: number, compute: () => Promise<boolean>): Promise<boolean> {
    const known = this.groupDone.get(taskId);
    if (known && Date.now() - known.at < GROUP_DONE_TTL_MS) return known.done;
    const done = await compute();
    this.groupDone.set(taskId, { at: Date.now(), done });
    return done;
  }

  /** Writes what is buffered; one batch at a time. */
  flush(): Promise<void> {
    this.flushing = this.flushing.then(async () => {
      if (!this.pending.size) return;
      const batch = [...this.pending.values()];
      this.pending.clear();
      try {
        await this.db.transaction(async (tx) => {
          for (const p of batch) await updateTaskHost(tx, p.taskId, p.mac, { progress: p.progress, updated_ms: p.updatedMs });
        });
      } catch (err) {
        log.warn({ err, reports: batch.length }, 'progress reports not written; the next ones will be');
      }
    });
    return this.flushing;
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
    for (const off of this.unsubscribe) off();
    await this.flush();
  }
}
