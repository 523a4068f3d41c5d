/**
 * The admins' task routes: tasks (deploy over the swarm, multicast deploy, capture) for a list of
 * hosts or a group, now or at a set time; a task's hosts and their logs; its live feed; cancel,
 * and retry of the hosts that failed. What PCs say about their task is in pc-routes.ts.
 */
import { z } from 'zod';
import { API, CreateTaskSchema } from '../../shared/http/api.js';
import { holderOfMac, issueSwarmKey, uploadKeyScope } from '../../shared/keys/swarm-key.js';
import { HttpError } from '../../shared/http/errors.js';
import type { ApiRouter } from '../http/api-router.js';
import { TaskHostLogSchema, TaskListSchema, TaskSchema } from '../../shared/http/portal-contract.js';
import { audit } from '../db/audit.js';
import { normalMac } from '../hosts/host-rules.js';
import { reopenFailedCapture } from '../images/image-store.js';
import { createTask, refuseBusy } from './create-task.js';
import type { TaskDeps } from './task-deps.js';
import { streamTaskEvents } from './task-events.js';
import { iso } from './task-host-view.js';
import { activateDueTasks, wakeTask } from './task-start.js';
import {
  RETRY_LINE,
  addHostLog,
  cancelTaskHost,
  cancelTaskHosts,
  closeIfAllFinal,
  failedMacs,
  hostLogEntries,
  listTasks,
  moveTask,
  taskById,
  taskHost,
  updateTaskHost,
} from './task-store.js';
import { describeTask, taskSummary } from './task-view.js';

const TaskQuery = z.object({
  state: z.enum(['scheduled', 'active', 'done', 'cancelled']).optional(),
  limit: z.coerce.number().int().positive().max(1000).default(100),
  offset: z.coerce.number().int().min(0).max(10_000_000).default(0),
});
const RetryBody = z.object({ hosts: z.array(z.string()).max(5000).optional() }).strict();

export function taskRoutes(api: ApiRouter, deps: TaskDeps): void {
  const { db } = deps;

  api.add(
    {
      method: 'post',
      path: `${API}/tasks`,
      summary: 'Start a deploy, multicast deploy or capture for hosts or a group, now or at scheduledAt',
      tag: 'tasks',
      access: 'images',
      body: CreateTaskSchema,
      status: 201,
      response: TaskSchema,
    },
    async (_ctx, { body, caller }) => {
      const id = await createTask(deps, body, caller);
      await wakeTask(deps, id);
      return describeTask(db, id);
    },
  );

  api.add(
    {
      method: 'get',
      path: `${API}/tasks`,
      summary: 'Tasks, newest first, with counts of hosts per state; a page of limit from offset, and how many match',
      tag: 'tasks',
      access: 'read',
      query: TaskQuery,
      response: TaskListSchema,
    },
    async (_ctx, { query }) => {
      await activateDueTasks(deps);
      const { rows, total } = await listTasks(db, query);
      return { tasks: await Promise.all(rows.map((t) => taskSummary(db, t))), total };
    },
  );

  api.add(
    { method: 'get', path: `${API}/tasks/:id`, summary: 'A task and every host in it', tag: 'tasks', access: 'read', response: TaskSchema },
    async (_ctx, { params }) => describeTask(db, Number(params.id)),
  );

  api.add(
    {
      method: 'get',
      path: `${API}/tasks/:id/events`,
      summary: 'Server-sent events of a task: snapshot, hosts (changed ones), task, totals',
      tag: 'tasks',
      access: 'read',
      responseType: 'text/event-stream',
      response: 'stream',
    },
    async (ctx, { params }) => {
      const id = Number(params.id);
      await streamTaskEvents(ctx, deps, id, await describeTask(db, id), async () => taskSummary(db, await taskById(db, id)));
    },
  );

  api.add(
    { method: 'get', path: `${API}/tasks/:id/hosts/:mac/log`, summary: "A host's log in a task", tag: 'tasks', access: 'read', response: TaskHostLogSchema },
    async (_ctx, { params }) => {
      const rows = await hostLogEntries(db, Number(params.id), normalMac(params.mac!));
      return { entries: rows.map((r) => ({ at: iso(r.at_ms), message: r.message })) };
    },
  );

  // A task whose PCs never came (or that should stop) is cancelled: its hosts are free again, its
  // keys no longer fetch it, and PCs still in it see `groupDone` and leave.
  api.add(
    {
      method: 'post',
      path: `${API}/tasks/:id/cancel`,
      summary: 'Cancel a task: hosts not finished become cancelled',
      tag: 'tasks',
      access: 'images',
      response: TaskSchema,
    },
    async (_ctx, { params, caller }) => {
      const id = Number(params.id);
      await db.transaction(async (tx) => {
        const task = await taskById(tx, id);
        if (task.state !== 'active' && task.state !== 'scheduled') throw new HttpError(409, `task ${id} is already ${task.state}`);
        await cancelTaskHosts(tx, id, caller.name);
        await audit(tx, caller.name, 'task.cancel', `task ${id}`);
      });
      deps.reports.forgetTask(id);
      const task = await describeTask(db, id);
      for (const h of task.hosts) if (h.state === 'cancelled') deps.live.changed(id, h);
      deps.live.taskChanged(id);
      return task;
    },
  );

  // One PC should stop (it is needed in class, or its disk is suspect) while the others go on: its
  // part is cancelled, its next report or task request tells it so, and the task closes if it was
  // the last one open.
  api.add(
    {
      method: 'post',
      path: `${API}/tasks/:id/hosts/:mac/cancel`,
      summary: "Cancel one host's part in a task: its PC is told to stop at its next report, the others go on",
      tag: 'tasks',
      access: 'images',
      response: TaskSchema,
    },
    async (_ctx, { params, caller }) => {
      const id = Number(params.id);
      const mac = normalMac(params.mac!);
      await db.transaction(async (tx) => {
        const task = await taskById(tx, id);
        if (task.state !== 'active' && task.state !== 'scheduled') throw new HttpError(409, `task ${id} is already ${task.state}`);
        const host = await taskHost(tx, id, mac);
        if (!host) throw new HttpError(404, `host ${mac} is not in task ${id}`);
        if (!(await cancelTaskHost(tx, id, mac, caller.name))) throw new HttpError(409, `host ${mac} is already ${host.state} in task ${id}`);
        await closeIfAllFinal(tx, id);
        await audit(tx, caller.name, 'task.host.cancel', `task ${id}`, { host: mac, state: `${host.state} → cancelled` });
      });
      deps.reports.forget(id, mac);
      const task = await describeTask(db, id);
      if (task.state !== 'active') deps.reports.forgetTask(id);
      const h = task.hosts.find((x) => x.mac === mac);
      if (h) deps.live.changed(id, h);
      deps.live.taskChanged(id);
      return task;
    },
  );

  // The PCs that failed get another go, in the same task: queued again with fresh keys, the task
  // active again, their PCs woken. The lab admin fixes the cause (a disk, a cable) and retries.
  api.add(
    {
      method: 'post',
      path: `${API}/tasks/:id/retry`,
      summary: 'Retry the failed hosts of a task (or the ones listed): queued again, woken',
      tag: 'tasks',
      access: 'images',
      body: RetryBody,
      response: TaskSchema,
    },
    async (_ctx, { params, body, caller }) => {
      const id = Number(params.id);
      const macs = await db.transaction(async (tx) => {
        const task = await taskById(tx, id);
        if (task.state === 'cancelled' || task.state === 'scheduled')
          throw new HttpError(409, `task ${id} is ${task.state}: only the failed hosts of an active or finished task are retried`);
        const wanted = body.hosts?.map(normalMac);
        const failed = await failedMacs(tx, id);
        const notFailed = wanted?.filter((m) => !failed.includes(m)) ?? [];
        if (notFailed.length) throw new HttpError(409, `not failed in task ${id}: ${notFailed.join(', ')}`);
        const retry = wanted ?? failed;
        if (!retry.length) throw new HttpError(409, `task ${id} has no failed hosts`);
        await refuseBusy(tx, retry);
        for (const mac of retry) {
          // A key other than the one the failed run had (keys count whole seconds: a retry within
          // the second would otherwise hand out the same one).
          const before = await taskHost(tx, id, mac);
          const expiresMs = Math.max(Date.now() + deps.config.keyLifetimeMs, (before?.key_expires_ms ?? 0) + 1000);
          const scope = task.kind === 'capture' ? uploadKeyScope(task.image_name!, task.image_version!) : task.info_hash!;
          const key = issueSwarmKey(deps.config.secret, scope, holderOfMac(mac), expiresMs);
          await updateTaskHost(tx, id, mac, {
            state: 'queued',
            key,
            key_expires_ms: expiresMs,
            key_ip: null,
            proven_ms: null,
            progress: null,
            error: null,
            updated_ms: Date.now(),
          });
          await addHostLog(tx, id, mac, `${RETRY_LINE} by ${caller.name}`);
        }
        if (task.state === 'done') await moveTask(tx, id, 'done', 'active');
        if (task.kind === 'capture') await reopenFailedCapture(tx, task.image_name!);
        await audit(tx, caller.name, 'task.retry', `task ${id}`, { hosts: retry });
        return retry;
      });
      for (const mac of macs) deps.reports.forget(id, mac);
      await wakeTask(deps, id, macs);
      const task = await describeTask(db, id);
      for (const h of task.hosts) if (macs.includes(h.mac)) deps.live.changed(id, h);
      deps.live.taskChanged(id);
      return task;
    },
  );
}
