/**
 * What the dashboards watch: a task's hosts as they change. Progress reports land here as well as
 * in the database; each task's changed hosts are sent to its watchers in one batch every
 * FLUSH_MS, so 200 PCs reporting every second cost a dashboard a few messages a second, not 200.
 * Portals sharing a PostgreSQL database pass each other their batches (db/cluster-bus.ts): a PC
 * may report to one while its dashboard is open on another.
 */
import { EventEmitter } from 'node:events';
import { batchesUnder, localBus, type ClusterBus } from '../db/cluster-bus.js';

const FLUSH_MS = 250;

export interface LiveBatch<H> {
  taskId: number;
  hosts: H[];
}

export class LiveTasks<H extends { mac: string }> {
  private readonly pending = new Map<number, Map<string, H>>();
  private readonly events = new EventEmitter();
  private readonly timer: NodeJS.Timeout;

  private readonly unsubscribe: Array<() => void>;

  constructor(private readonly bus: ClusterBus = localBus()) {
    this.events.setMaxListeners(0);
    this.timer = setInterval(() => this.flush(), FLUSH_MS);
    this.timer.unref();
    this.unsubscribe = [
      bus.on('live.hosts', (m) => {
        const { taskId, hosts } = m as LiveBatch<H>;
        this.events.emit(`hosts:${taskId}`, hosts);
      }),
      bus.on('live.task', (m) => this.events.emit(`task:${(m as { taskId: number }).taskId}`)),
    ];
  }

  /** A host of a task changed. */
  changed(taskId: number, host: H): void {
    let m = this.pending.get(taskId);
    if (!m) this.pending.set(taskId, (m = new Map<string, H>()));
    m.set(host.mac, host);
  }

  /** Something of the task itself changed (state, counts). */
  taskChanged(taskId: number): void {
    this.events.emit(`task:${taskId}`);
    this.bus.publish('live.task', { taskId });
  }

  watchHosts(taskId: number, fn: (hosts: H[]) => void): () => void {
    this.events.on(`hosts:${taskId}`, fn);
    return () => this.events.off(`hosts:${taskId}`, fn);
  }

  watchTask(taskId: number, fn: () => void): () => void {
    this.events.on(`task:${taskId}`, fn);
    return () => this.events.off(`task:${taskId}`, fn);
  }

  private flush(): void {
    for (const [taskId, hosts] of this.pending) {
      const batch = [...hosts.values()];
      this.events.emit(`hosts:${taskId}`, batch);
      if (this.bus.shared) for (const m of batchesUnder(batch, (part) => ({ taskId, hosts: part }))) this.bus.publish('live.hosts', m);
    }
    this.pending.clear();
  }

  close(): void {
    clearInterval(this.timer);
    for (const off of this.unsubscribe) off();
    this.events.removeAllListeners();
  }
}
