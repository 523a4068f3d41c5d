/**
 * Which storage node streams which multicast task. One node per task: the first live node (by
 * name) holding the task's image, so every heartbeat agrees without the portal keeping a lease.
 * Each task gets its own udpcast port base (udpcast uses it and the next port), so two rooms'
 * sessions never mix; the pieces' own identity check is the second guard.
 */
import type { MulticastSession } from '../../shared/http/api.js';
import type { PortalDeps } from '../deps.js';
import type { Db } from '../db/open.js';
import type { TaskRow } from '../db/tables.js';
import { sessionReport } from './node-reports.js';
import { nodesHolding } from '../images/tickets.js';
import { activeMulticastTasks, taskHostCount } from './node-store.js';

const PORTBASE_FIRST = 9000;
const PORTBASE_SLOTS = 1000;
/** A multicast task without its own maxWaitSeconds waits this long for its PCs. */
export const DEFAULT_MULTICAST_WAIT_SECONDS = 300;

export const multicastPortbase = (taskId: number): number => PORTBASE_FIRST + (taskId % PORTBASE_SLOTS) * 2;

export async function multicastSessionsFor(deps: PortalDeps, node: string): Promise<MulticastSession[]> {
  const tasks = await activeMulticastTasks(deps.db);
  const sessions: MulticastSession[] = [];
  for (const t of tasks) {
    const holders = (await nodesHolding(deps, t.info_hash)).map((n) => n.name).sort();
    if (holders[0] !== node) continue;
    const hosts = await taskHostCount(deps.db, t.id);
    sessions.push({
      taskId: t.id,
      image: { name: t.name, version: t.version, infoHash: t.info_hash },
      portbase: multicastPortbase(t.id),
      minReceivers: t.min_receivers ?? hosts,
      maxWaitSeconds: t.max_wait_seconds ?? DEFAULT_MULTICAST_WAIT_SECONDS,
    });
  }
  return sessions;
}

/**
 * A multicast task's session as its dashboard shows it: which node streams it, whether udp-sender
 * waits for receivers (and until when) or streams, or how it ended; "pending" until a node said.
 */
export function multicastView(db: Db, task: Pick<TaskRow, 'id' | 'min_receivers' | 'max_wait_seconds'>, hosts: number) {
  const r = sessionReport(db, task.id);
  const maxWaitSeconds = task.max_wait_seconds ?? DEFAULT_MULTICAST_WAIT_SECONDS;
  const deadline = r?.firstJoinedAt && r.state === 'waiting' ? new Date(Date.parse(r.firstJoinedAt) + maxWaitSeconds * 1000).toISOString() : null;
  return {
    node: r?.node ?? null,
    state: r?.state ?? ('pending' as const),
    receivers: r?.receivers ?? 0,
    minReceivers: task.min_receivers ?? hosts,
    maxWaitSeconds,
    deadline,
    reportedAt: r ? new Date(r.reportedMs).toISOString() : null,
  };
}
