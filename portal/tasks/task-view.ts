/**
 * A task as the API and the dashboards show it: its row, its image, and how many of its hosts are
 * in each state (the summary), or with every host (the whole task).
 */
import type { Db } from '../db/open.js';
import type { TaskRow } from '../db/tables.js';
import { findImageByHash } from '../images/image-store.js';
import { multicastView } from '../nodes/multicast.js';
import { iso, taskHostView } from './task-host-view.js';
import { groupDone, hostCounts, taskById, taskHostsNamed } from './task-store.js';

export async function taskSummary(db: Db, task: TaskRow) {
  const image = task.info_hash ? await findImageByHash(db, task.info_hash) : undefined;
  const counts = await hostCounts(db, task.id);
  const hosts = Object.values(counts).reduce((a, b) => a + b, 0);
  return {
    id: task.id,
    kind: task.kind,
    state: task.state,
    lingerSeconds: task.linger_seconds,
    image: { name: image?.name ?? task.image_name, version: image?.version ?? task.image_version ?? null, infoHash: task.info_hash ?? null },
    group: task.group_name ?? null,
    createdAt: iso(task.created_ms),
    scheduledAt: iso(task.scheduled_ms),
    createdBy: task.created_by ?? null,
    ...((task.kind === 'multicast' || task.min_receivers) && { minReceivers: task.min_receivers, maxWaitSeconds: task.max_wait_seconds }),
    ...(task.started_ms && { startedAt: iso(task.started_ms) }),
    wakePerSecond: task.wake_per_second === null || task.wake_per_second === undefined ? null : Number(task.wake_per_second),
    ...(task.schedule_id && { scheduleId: task.schedule_id }),
    finish: task.finish === 'poweroff' ? ('poweroff' as const) : ('reboot' as const),
    // The PCs the session still waits for, as the seeder is told (nodes/node-store.ts taskHostCount).
    ...(task.kind === 'multicast' && { multicast: multicastView(db, task, hosts - counts.cancelled - counts.failed) }),
    counts,
  };
}

export async function describeTask(db: Db, id: number) {
  const task = await taskById(db, id);
  const hosts = await taskHostsNamed(db, id);
  return { ...(await taskSummary(db, task)), groupDone: await groupDone(db, id), hosts: hosts.map(taskHostView) };
}
