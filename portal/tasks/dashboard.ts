/**
 * The home page's one question (GET /dashboard): what runs and what is due, who failed today,
 * and how many PCs were imaged a day over the last month. The storage nodes come from GET /nodes.
 */
import type { Progress } from '../../shared/http/api.js';
import { DashboardSchema } from '../../shared/http/portal-contract.js';
import { API } from '../../shared/http/api.js';
import type { ApiRouter } from '../http/api-router.js';
import type { TaskDeps } from './task-deps.js';
import { iso } from './task-host-view.js';
import { activateDueTasks } from './task-start.js';
import { deployEndsSince, failedSince, hostProgress, openTasks } from './task-store.js';
import { taskSummary } from './task-view.js';
import type { Db } from '../db/open.js';

const DAYS = 30;
const FAILED_SHOWN = 100;

/** The portal's own calendar day, as YYYY-MM-DD. */
const dayOf = (ms: number): string => {
  const d = new Date(ms);
  return `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, '0')}-${String(d.getDate()).padStart(2, '0')}`;
};

/** A task's progress: each host's share of its pieces (a finished one counts whole), averaged. */
async function percentOf(db: Db, taskId: number): Promise<number> {
  const hosts = await hostProgress(db, taskId);
  if (!hosts.length) return 0;
  let sum = 0;
  for (const h of hosts) {
    if (h.state === 'done' || h.state === 'seeding') sum += 1;
    else if (h.progress) {
      const p = JSON.parse(h.progress) as Progress;
      sum += p.piecesTotal > 0 ? p.piecesDone / p.piecesTotal : p.bytesTotal > 0 ? p.bytesDone / p.bytesTotal : 0;
    }
  }
  return Math.min(100, Math.floor((100 * sum) / hosts.length));
}

export function dashboardRoutes(api: ApiRouter, deps: TaskDeps): void {
  const { db } = deps;
  api.add(
    {
      method: 'get',
      path: `${API}/dashboard`,
      summary: 'The home page: active and scheduled tasks with progress, hosts failed today, deploys per day for 30 days',
      tag: 'tasks',
      access: 'read',
      response: DashboardSchema,
    },
    async () => {
      await activateDueTasks(deps);
      const midnight = new Date();
      midnight.setHours(0, 0, 0, 0);
      const first = new Date(midnight);
      first.setDate(first.getDate() - (DAYS - 1));
      const tasks = await Promise.all((await openTasks(db)).map(async (t) => ({ ...(await taskSummary(db, t)), percent: await percentOf(db, t.id) })));
      const failed = await failedSince(db, midnight.getTime(), FAILED_SHOWN);
      const days = new Map<string, { day: string; done: number; failed: number }>();
      for (let d = new Date(first); d <= midnight; d.setDate(d.getDate() + 1)) days.set(dayOf(d.getTime()), { day: dayOf(d.getTime()), done: 0, failed: 0 });
      for (const e of await deployEndsSince(db, first.getTime())) {
        const day = days.get(dayOf(Number(e.updated_ms)));
        if (day) day[e.state === 'done' ? 'done' : 'failed']++;
      }
      return {
        tasks,
        failedToday: failed.map((h) => ({ mac: h.mac, name: h.name ?? null, taskId: h.task_id, error: h.error, at: iso(h.updated_ms) })),
        days: [...days.values()],
      };
    },
  );
}
