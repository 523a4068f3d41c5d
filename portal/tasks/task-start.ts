/**
 * A task's time comes: scheduled tasks become active and wake their PCs, at the task's rate.
 */
import { NO_SUBNET, WAKE_OFF, wakeAddressOf } from '../hosts/wake.js';
import type { TaskDeps } from './task-deps.js';
import { addHostLog, addHostLogs, dueTaskIds, findTask, moveTask, queuedHosts } from './task-store.js';

/** Tasks whose time has come start, and wake their PCs. */
export async function activateDueTasks(deps: TaskDeps): Promise<void> {
  for (const id of await dueTaskIds(deps.db, Date.now())) {
    if (await moveTask(deps.db, id, 'scheduled', 'active')) {
      deps.live.taskChanged(id);
      await wakeTask(deps, id);
    }
  }
}

/**
 * Wakes the PCs of an active task that have not come yet (queued), at the task's rate; each gets a
 * line in its task log saying where the packet went. A task made without wake sends none.
 */
export async function wakeTask(deps: TaskDeps, taskId: number, only?: string[]): Promise<number> {
  const task = await findTask(deps.db, taskId);
  if (!task || task.state !== 'active' || task.wake_per_second === null) return 0;
  const targets = (await queuedHosts(deps.db, taskId, only)).map((r) => ({
    mac: r.mac,
    address: deps.config.wake ? wakeAddressOf(r.mac, r.inventory) : undefined,
  }));
  await addHostLogs(
    deps.db,
    targets.filter((t) => !t.address).map((t) => ({ task_id: taskId, mac: t.mac, at_ms: Date.now(), message: deps.config.wake ? NO_SUBNET : WAKE_OFF })),
  );
  const woken = targets.filter((t): t is { mac: string; address: string } => Boolean(t.address));
  deps.wakes.start(woken, {
    perSecond: Number(task.wake_per_second),
    port: deps.config.wakePort,
    sent: (t) => addHostLog(deps.db, taskId, t.mac, `woken: Wake-on-LAN packet to ${t.address}`),
  });
  return woken.length;
}
