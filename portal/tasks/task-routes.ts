/**
 * Tasks: deploy (swarm), multicast deploy and capture, for a list of hosts or a group, now or at a
 * set time. Each host of a task has its own key and its own state:
 *   queued → booting (it asked for its task) → [waiting] → running → seeding → done, or failed, or
 *   cancelled; waiting only in a deploy that starts together (start-together.ts).
 * PCs fetch their task, report progress, and learn when they may start and when the whole group
 * holds the image so they stop seeding.
 */
import type { Context } from 'koa';
import type { Knex } from 'knex';
import { z } from 'zod';
import { API, CreateTaskSchema, ProgressSchema, TaskHostStateSchema, isHostname, type HostTask, type TaskHostState } from '../../shared/http/api.js';
import { holderOfMac, issueSwarmKey, uploadKeyScope } from '../../shared/keys/swarm-key.js';
import { iso, taskHostView } from './task-host-view.js';
import type { TaskHostRow } from '../db/tables.js';
import { assertImageName } from '../../shared/image/image-name.js';
import { HttpError, notFound } from '../../shared/http/errors.js';
import { logger } from '../../shared/log.js';
import type { ApiRouter } from '../http/api-router.js';
import { audit } from '../db/audit.js';
import type { Caller } from '../access/auth.js';
import type { TaskDeps } from './task-deps.js';
import { checkBootKey, requireHostKey } from '../access/host-keys.js';
import { findImage, imageById, issueKey, makeTicket, maySee } from '../images/tickets.js';
import { expectedProof } from './proof.js';
import { normalMac } from '../hosts/host-routes.js';
import { streamTaskEvents } from './task-events.js';
import { DEFAULT_MULTICAST_WAIT_SECONDS, multicastPortbase } from '../nodes/multicast.js';
import { DEFAULT_START_WAIT_SECONDS, holdsStart, mayStart } from './start-together.js';
import { NO_SUBNET, WAKE_OFF, wakeAddressOf } from '../hosts/wake.js';

const log = logger('tasks');

/** Everyone holds the image (or gave up): lingering PCs may leave. */
const HOLDS_OR_GAVE_UP: TaskHostState[] = ['seeding', 'done', 'failed', 'cancelled'];
export const FINAL: TaskHostState[] = ['done', 'failed', 'cancelled'];
const KEY_RENEW_BEFORE_MS = 3_600_000;
const TaskQuery = z.object({
  state: z.enum(['scheduled', 'active', 'done', 'cancelled']).optional(),
  limit: z.coerce.number().int().positive().max(1000).default(100),
});

export const insertedId = (row: unknown): number => (typeof row === 'object' ? (row as { id: number }).id : (row as number));

async function groupDone(db: Knex, taskId: number): Promise<boolean> {
  if ((await db('tasks').where({ id: taskId }).first())?.state === 'cancelled') return true;
  const states = (await db<TaskHostRow>('task_hosts').where({ task_id: taskId }).select('state')).map((r) => r.state);
  return states.length > 0 && states.every((s) => HOLDS_OR_GAVE_UP.includes(s));
}

async function taskSummary(db: Knex, task: any) {
  const counts = Object.fromEntries(TaskHostStateSchema.options.map((s) => [s, 0])) as Record<TaskHostState, number>;
  for (const r of await db('task_hosts').where({ task_id: task.id }).groupBy('state').select('state').count({ n: '*' }))
    counts[(r as any).state as TaskHostState] = Number((r as any).n);
  const image = task.info_hash ? await db('images').where({ info_hash: task.info_hash }).first() : null;
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
    counts,
  };
}

export async function describeTask(db: Knex, id: number) {
  const task = await db('tasks').where({ id }).first();
  if (!task) throw notFound(`task ${id}`);
  const hosts = await db('task_hosts')
    .leftJoin('hosts', 'hosts.mac', 'task_hosts.mac')
    .where({ task_id: id })
    .orderBy('task_hosts.mac')
    .select('task_hosts.mac', 'task_hosts.state', 'task_hosts.progress', 'task_hosts.error', 'task_hosts.updated_ms', 'hosts.name');
  return { ...(await taskSummary(db, task)), groupDone: await groupDone(db, id), hosts: hosts.map(taskHostView) };
}

async function hostLog(db: Knex, taskId: number, mac: string, message: string): Promise<void> {
  await db('task_host_log').insert({ task_id: taskId, mac, at_ms: Date.now(), message: message.slice(0, 2000) });
}

/** Tasks whose time has come start, and wake their PCs. */
export async function activateDueTasks(deps: TaskDeps): Promise<void> {
  const due = await deps.db('tasks').where({ state: 'scheduled' }).andWhere('scheduled_ms', '<=', Date.now()).select('id');
  for (const { id } of due) {
    if (await deps.db('tasks').where({ id, state: 'scheduled' }).update({ state: 'active' })) {
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
  const task = await deps.db('tasks').where({ id: taskId }).first();
  if (!task || task.state !== 'active' || task.wake_per_second === null) return 0;
  const q = deps.db('task_hosts').leftJoin('hosts', 'hosts.mac', 'task_hosts.mac').where({ task_id: taskId, 'task_hosts.state': 'queued' });
  const rows = await (only ? q.whereIn('task_hosts.mac', only) : q).orderBy('task_hosts.mac').select('task_hosts.mac', 'hosts.inventory');
  const targets = rows.map((r: { mac: string; inventory: string | null }) => ({
    mac: r.mac,
    address: deps.config.wake ? wakeAddressOf(r.mac, r.inventory) : undefined,
  }));
  const unwoken = targets
    .filter((t) => !t.address)
    .map((t) => ({ task_id: taskId, mac: t.mac, at_ms: Date.now(), message: deps.config.wake ? NO_SUBNET : WAKE_OFF }));
  for (let i = 0; i < unwoken.length; i += 100) await deps.db('task_host_log').insert(unwoken.slice(i, i + 100));
  const woken = targets.filter((t): t is { mac: string; address: string } => Boolean(t.address));
  deps.wakes.start(woken, {
    perSecond: Number(task.wake_per_second),
    port: deps.config.wakePort,
    sent: (t) => hostLog(deps.db, taskId, t.mac, `woken: Wake-on-LAN packet to ${t.address}`),
  });
  return woken.length;
}

/** The hosts a task is for: its MACs (registered now if new) or the members of its group. */
async function taskHosts(tx: Knex.Transaction, req: z.infer<typeof CreateTaskSchema>): Promise<string[]> {
  if (req.group) {
    if (!(await tx('groups').where({ name: req.group }).first())) throw new HttpError(400, `unknown group ${req.group}`);
    // A host waiting for approval is not a member yet, whatever group it asked for.
    const macs = (await tx('hosts').where({ group_name: req.group, pending: false }).orderBy('mac').select('mac')).map((r: { mac: string }) => r.mac);
    if (!macs.length) throw new HttpError(409, `group ${req.group} has no hosts (approved ones)`);
    return macs;
  }
  const macs = [...new Set(req.hosts!.map(normalMac))];
  for (const mac of macs) await tx('hosts').insert({ mac, created_ms: Date.now() }).onConflict('mac').ignore();
  // An admin naming a MAC in a task vouches for it.
  await tx('hosts').whereIn('mac', macs).andWhere({ pending: true }).update({ pending: false });
  return macs;
}

async function refuseBusy(tx: Knex.Transaction, macs: string[]): Promise<void> {
  const busy = await tx('task_hosts')
    .join('tasks', 'tasks.id', 'task_hosts.task_id')
    .whereIn('task_hosts.mac', macs)
    .whereIn('tasks.state', ['active', 'scheduled'])
    .whereNotIn('task_hosts.state', FINAL)
    .select('task_hosts.mac', 'tasks.id');
  if (busy.length)
    throw new HttpError(
      409,
      `already in a task that is not over: ${busy
        .slice(0, 10)
        .map((b: { mac: string; id: number }) => `${b.mac} (task ${b.id})`)
        .join(', ')}${busy.length > 10 ? ` and ${busy.length - 10} more` : ''}`,
    );
}

export async function createTask(deps: TaskDeps, req: z.infer<typeof CreateTaskSchema>, caller: Caller, scheduleId?: number): Promise<number> {
  const { db, config } = deps;
  const scheduledMs = req.scheduledAt ? Date.parse(req.scheduledAt) : null;
  const state = scheduledMs && scheduledMs > Date.now() ? 'scheduled' : 'active';
  const image = req.kind === 'capture' ? undefined : await findImage(deps, req.image, req.version, caller);
  const named = req.kind === 'capture' ? await db('image_info').where({ name: req.image }).first() : undefined;
  if (named && !maySee(named, caller)) throw notFound(`image ${req.image}`);
  if (req.kind === 'capture' && (req.minReceivers || req.maxWaitSeconds))
    throw new HttpError(400, 'minReceivers and maxWaitSeconds are for deploy and multicast tasks, not a capture');
  if (req.kind !== 'capture' && req.publish !== undefined) throw new HttpError(400, "publish is for a capture: whether its version skips the admin's review");
  if (req.kind === 'deploy' && req.maxWaitSeconds && !req.minReceivers)
    throw new HttpError(400, 'maxWaitSeconds of a swarm deploy needs minReceivers (how many PCs to wait for)');
  if (req.kind === 'capture') {
    assertImageName(req.image);
    if (req.hosts && req.hosts.length !== 1) throw new HttpError(400, `a capture task is for one host (this one names ${req.hosts.length})`);
  }
  return db.transaction(async (tx) => {
    const macs = await taskHosts(tx, req);
    if (req.kind === 'capture' && macs.length !== 1) throw new HttpError(400, `a capture task is for one host (group ${req.group} has ${macs.length})`);
    const common = {
      kind: req.kind,
      state,
      created_ms: Date.now(),
      scheduled_ms: scheduledMs,
      created_by: caller.name,
      group_name: req.group ?? null,
      finish: req.finish,
      wake_per_second: req.wake ? req.wakePerSecond : null,
      schedule_id: scheduleId ?? null,
    };
    let taskId: number;
    if (req.kind === 'capture') {
      let info = await tx('image_info').where({ name: req.image }).first();
      if (info?.access === 'deleted') throw new HttpError(409, `image ${req.image} is deleted`);
      const type = req.type ?? info?.image_type;
      if (!type) throw new HttpError(400, 'a capture of a new image needs its type (resizable, multipart, alldisks or raw)');
      await refuseBusy(tx, macs);
      if (!info) {
        info = { name: req.image, image_type: type, owner: caller.name, access: 'public', status: 'pending', tags: '[]', created_ms: Date.now() };
        await tx('image_info').insert(info);
      }
      const live = await tx('nodes')
        .where('last_seen_ms', '>=', Date.now() - config.nodeTimeoutMs)
        .orderBy('name');
      const node = req.node ? live.find((n: { name: string }) => n.name === req.node) : live[0];
      if (!node) throw new HttpError(409, req.node ? `storage node ${req.node} is not up` : 'no storage node is up to receive the capture');
      // The portal picks the version, so that captures on two nodes never publish two images as one.
      const published = await tx('images').where({ name: req.image }).max<{ v: number | null }>('version as v').first();
      const assigned = await tx('tasks').where({ kind: 'capture', image_name: req.image }).max('image_version as v').first();
      const version = Math.max(Number(published?.v ?? 0), Number(assigned?.v ?? 0)) + 1;
      taskId = insertedId(
        (
          await tx('tasks')
            .insert({
              ...common,
              linger_seconds: 0,
              image_name: req.image,
              image_type: type,
              node: node.name,
              image_version: version,
              publish: req.publish ?? false,
            })
            .returning('id')
        )[0],
      );
      const mac = macs[0]!;
      const expiresMs = Date.now() + config.keyLifetimeMs;
      await tx('task_hosts').insert({
        task_id: taskId,
        mac,
        key: issueSwarmKey(config.secret, uploadKeyScope(req.image, version), holderOfMac(mac), expiresMs),
        key_expires_ms: expiresMs,
        state: 'queued',
      });
    } else {
      await refuseBusy(tx, macs);
      if (req.minReceivers && req.minReceivers > macs.length)
        throw new HttpError(400, `minReceivers ${req.minReceivers} is more than the ${macs.length} PC(s) of this task`);
      taskId = insertedId(
        (
          await tx('tasks')
            .insert({
              ...common,
              info_hash: image!.info_hash,
              image_name: image!.name,
              image_version: image!.version,
              linger_seconds: req.lingerSeconds,
              min_receivers: req.minReceivers ?? null,
              max_wait_seconds: req.maxWaitSeconds ?? null,
            })
            .returning('id')
        )[0],
      );
      const rows = macs.map((mac) => {
        const { key, expiresMs } = issueKey(deps, image!.info_hash, holderOfMac(mac));
        return { task_id: taskId, mac, key, key_expires_ms: expiresMs, state: 'queued' as const };
      });
      // SQLite takes at most 999 bound values a statement.
      for (let i = 0; i < rows.length; i += 100) await tx('task_hosts').insert(rows.slice(i, i + 100));
    }
    await audit(tx, caller.name, 'task.create', `task ${taskId}`, {
      kind: req.kind,
      image: req.image,
      hosts: macs.length,
      group: req.group,
      scheduledAt: req.scheduledAt,
    });
    return taskId;
  });
}

/** A PC asked for its task: the host row, its task, and the host marked booting. */
async function hostTask(deps: TaskDeps, ctx: Context, mac: string): Promise<HostTask> {
  const { db, config } = deps;
  await activateDueTasks(deps);
  await db('hosts').where({ mac }).update({ ip: ctx.ip, last_seen_ms: Date.now() });
  const row = await db('task_hosts')
    .join('tasks', 'tasks.id', 'task_hosts.task_id')
    .where({ 'task_hosts.mac': mac, 'tasks.state': 'active' })
    .whereNotIn('task_hosts.state', FINAL)
    .select(
      'task_hosts.*',
      'tasks.info_hash',
      'tasks.linger_seconds',
      'tasks.kind',
      'tasks.image_name',
      'tasks.image_type',
      'tasks.image_version',
      'tasks.node',
      'tasks.min_receivers',
      'tasks.max_wait_seconds',
      'tasks.first_ready_ms',
      'tasks.started_ms',
    )
    .first();
  await checkBootKey(db, ctx, mac, row);
  if (!row) return { kind: 'none' };
  await claimTaskKey(deps, row.task_id, mac, ctx.ip);
  // A PC that boots long after the task was made gets its key renewed rather than refused.
  if (Number(row.key_expires_ms) < Date.now() + KEY_RENEW_BEFORE_MS) {
    const expiresMs = Date.now() + config.keyLifetimeMs;
    const scope = row.kind === 'capture' ? uploadKeyScope(row.image_name, row.image_version) : row.info_hash;
    row.key = issueSwarmKey(config.secret, scope, holderOfMac(mac), expiresMs);
    row.key_expires_ms = expiresMs;
    await db('task_hosts').where({ task_id: row.task_id, mac }).update({ key: row.key, key_expires_ms: expiresMs });
    deps.reports.forget(row.task_id, mac);
  }
  if (row.state === 'queued') await markBooting(deps, row.task_id, mac, 'asked for its task');
  if (row.kind === 'capture') {
    const node = await db('nodes').where({ name: row.node }).first();
    if (!node) throw new HttpError(409, `storage node ${row.node} of capture task ${row.task_id} is unknown`);
    const resume = row.progress ? (JSON.parse(row.progress) as { uploadId?: string }).uploadId : undefined;
    return {
      kind: 'capture',
      taskId: row.task_id,
      key: row.key,
      image: row.image_name,
      version: row.image_version,
      type: row.image_type,
      nodeUrl: node.http_url,
      ...(resume && { resume }),
    };
  }
  const image = await imageById(deps, row.info_hash);
  const group = (await db('task_hosts').where({ task_id: row.task_id }).select('mac').orderBy('mac')).map((r: { mac: string }) => r.mac);
  const host = await db('hosts').where({ mac }).select('name').first();
  const info = await db('image_info').where({ name: image.name }).select('set_identity').first();
  // A name that predates the host-name rule is not handed out: it would land in the PC's files as it is.
  const identity = host?.name && isHostname(host.name) && (info ? Boolean(info.set_identity) : true) ? { hostname: host.name as string } : undefined;
  return {
    kind: 'deploy',
    taskId: row.task_id,
    key: row.key,
    lingerSeconds: row.linger_seconds,
    transport: row.kind === 'multicast' ? 'multicast' : 'swarm',
    ...(row.kind === 'multicast' && {
      multicast: { portbase: multicastPortbase(row.task_id), maxWaitSeconds: row.max_wait_seconds ?? DEFAULT_MULTICAST_WAIT_SECONDS },
    }),
    share: { index: group.indexOf(mac), count: group.length },
    ...(holdsStart({ ...row, id: row.task_id }) && {
      startTogether: { minReceivers: row.min_receivers, maxWaitSeconds: row.max_wait_seconds ?? DEFAULT_START_WAIT_SECONDS },
    }),
    ticket: await makeTicket(deps, image, row.key, Number(row.key_expires_ms), { assign: { taskId: row.task_id, mac } }),
    ...(identity && { identity }),
  };
}

/**
 * A PC has no secret of its own: whoever asks first with its MAC gets its task key. The key goes
 * to one address: the first to ask, and that address again (the PC rebooted half-way). Another
 * address asking while the host's part is not over is refused, and the conflict shows on the
 * dashboard in the host's row and log, so an impersonation is seen rather than silent. A PC whose
 * address changed is retried by the admin, which hands out a fresh key.
 */
export async function claimTaskKey(deps: TaskDeps, taskId: number, mac: string, ip: string): Promise<void> {
  if (await deps.db('task_hosts').where({ task_id: taskId, mac }).whereNull('key_ip').update({ key_ip: ip })) {
    deps.reports.forget(taskId, mac);
    return;
  }
  const row = await deps.db('task_hosts').where({ task_id: taskId, mac }).select('key_ip').first();
  if (!row || row.key_ip === ip) return;
  const conflict = `conflict: ${ip} asked for this PC's task key, which went to ${row.key_ip}; refused (retry the host if the PC's address changed)`;
  await deps.db('task_hosts').where({ task_id: taskId, mac }).update({ error: conflict, updated_ms: Date.now() });
  await hostLog(deps.db, taskId, mac, conflict);
  log.warn({ taskId, mac, ip, keyIp: row.key_ip }, 'task key asked for from a second address');
  const h = await deps
    .db('task_hosts')
    .leftJoin('hosts', 'hosts.mac', 'task_hosts.mac')
    .where({ task_id: taskId, 'task_hosts.mac': mac })
    .select('task_hosts.*', 'hosts.name')
    .first();
  deps.live.changed(taskId, taskHostView(h));
  throw new HttpError(
    409,
    `host ${mac}: its task key went to another address (${row.key_ip}); ${ip} is refused. If the PC's address changed, an admin retries it in the portal`,
  );
}

export async function markBooting(deps: TaskDeps, taskId: number, mac: string, why: string): Promise<void> {
  if (!(await deps.db('task_hosts').where({ task_id: taskId, mac, state: 'queued' }).update({ state: 'booting', updated_ms: Date.now() }))) return;
  deps.reports.forget(taskId, mac);
  await hostLog(deps.db, taskId, mac, `booting: ${why}`);
  const h = await deps
    .db('task_hosts')
    .leftJoin('hosts', 'hosts.mac', 'task_hosts.mac')
    .where({ task_id: taskId, 'task_hosts.mac': mac })
    .select('task_hosts.*', 'hosts.name')
    .first();
  deps.live.changed(taskId, taskHostView(h));
  deps.live.taskChanged(taskId);
}

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
    },
    async (_ctx, { body, caller }) => {
      const id = await createTask(deps, body, caller);
      await wakeTask(deps, id);
      return describeTask(db, id);
    },
  );

  api.add(
    { method: 'get', path: `${API}/tasks`, summary: 'Tasks, newest first, with counts of hosts per state', tag: 'tasks', access: 'read', query: TaskQuery },
    async (_ctx, { query }) => {
      await activateDueTasks(deps);
      let q = db('tasks').orderBy('id', 'desc').limit(query.limit);
      if (query.state) q = q.where({ state: query.state });
      return { tasks: await Promise.all((await q).map((t: unknown) => taskSummary(db, t))) };
    },
  );

  api.add({ method: 'get', path: `${API}/tasks/:id`, summary: 'A task and every host in it', tag: 'tasks', access: 'read' }, async (_ctx, { params }) =>
    describeTask(db, Number(params.id)),
  );

  api.add(
    {
      method: 'get',
      path: `${API}/tasks/:id/events`,
      summary: 'Server-sent events of a task: snapshot, hosts (changed ones), task, totals',
      tag: 'tasks',
      access: 'read',
      responseType: 'text/event-stream',
    },
    async (ctx, { params }) => {
      const id = Number(params.id);
      await streamTaskEvents(ctx, deps, id, await describeTask(db, id), async () => taskSummary(db, await db('tasks').where({ id }).first()));
    },
  );

  api.add(
    { method: 'get', path: `${API}/tasks/:id/hosts/:mac/log`, summary: "A host's log in a task", tag: 'tasks', access: 'read' },
    async (_ctx, { params }) => {
      const rows = await db('task_host_log')
        .where({ task_id: Number(params.id), mac: normalMac(params.mac!) })
        .orderBy('id');
      return { entries: rows.map((r: { at_ms: number; message: string }) => ({ at: iso(r.at_ms), message: r.message })) };
    },
  );

  // A task whose PCs never came (or that should stop) is cancelled: its hosts are free again, its
  // keys no longer fetch it, and PCs still in it see `groupDone` and leave.
  api.add(
    { method: 'post', path: `${API}/tasks/:id/cancel`, summary: 'Cancel a task: hosts not finished become cancelled', tag: 'tasks', access: 'images' },
    async (_ctx, { params, caller }) => {
      const id = Number(params.id);
      await db.transaction(async (tx) => {
        const task = await tx('tasks').where({ id }).first();
        if (!task) throw notFound(`task ${id}`);
        if (task.state !== 'active' && task.state !== 'scheduled') throw new HttpError(409, `task ${id} is already ${task.state}`);
        await tx('tasks').where({ id }).update({ state: 'cancelled' });
        const open = await tx('task_hosts').where({ task_id: id }).whereNotIn('state', FINAL).select('mac');
        await tx('task_hosts').where({ task_id: id }).whereNotIn('state', FINAL).update({ state: 'cancelled', updated_ms: Date.now() });
        for (const { mac } of open) await tx('task_host_log').insert({ task_id: id, mac, at_ms: Date.now(), message: `cancelled by ${caller.name}` });
        await audit(tx, caller.name, 'task.cancel', `task ${id}`);
      });
      deps.reports.forgetTask(id);
      const task = await describeTask(db, id);
      for (const h of task.hosts) if (h.state === 'cancelled') deps.live.changed(id, h);
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
    },
    async (_ctx, { params, body, caller }) => {
      const id = Number(params.id);
      const macs = await db.transaction(async (tx) => {
        const task = await tx('tasks').where({ id }).first();
        if (!task) throw notFound(`task ${id}`);
        if (task.state === 'cancelled' || task.state === 'scheduled')
          throw new HttpError(409, `task ${id} is ${task.state}: only the failed hosts of an active or finished task are retried`);
        const wanted = body.hosts?.map(normalMac);
        const failed = (await tx('task_hosts').where({ task_id: id, state: 'failed' }).select('mac')).map((r: { mac: string }) => r.mac);
        const notFailed = wanted?.filter((m) => !failed.includes(m)) ?? [];
        if (notFailed.length) throw new HttpError(409, `not failed in task ${id}: ${notFailed.join(', ')}`);
        const retry = wanted ?? failed;
        if (!retry.length) throw new HttpError(409, `task ${id} has no failed hosts`);
        await refuseBusy(tx, retry);
        for (const mac of retry) {
          // A key other than the one the failed run had (keys count whole seconds: a retry within
          // the second would otherwise hand out the same one).
          const before = await tx('task_hosts').where({ task_id: id, mac }).first();
          const expiresMs = Math.max(Date.now() + deps.config.keyLifetimeMs, Number(before?.key_expires_ms ?? 0) + 1000);
          const key = issueSwarmKey(
            deps.config.secret,
            task.kind === 'capture' ? uploadKeyScope(task.image_name, task.image_version) : task.info_hash,
            holderOfMac(mac),
            expiresMs,
          );
          await tx('task_hosts')
            .where({ task_id: id, mac })
            .update({ state: 'queued', key, key_expires_ms: expiresMs, key_ip: null, proven_ms: null, progress: null, error: null, updated_ms: Date.now() });
          await tx('task_host_log').insert({ task_id: id, mac, at_ms: Date.now(), message: `${RETRY_LINE} by ${caller.name}` });
        }
        if (task.state === 'done') await tx('tasks').where({ id }).update({ state: 'active' });
        if (task.kind === 'capture') await tx('image_info').where({ name: task.image_name, status: 'failed' }).update({ status: 'pending' });
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

  api.add(
    {
      method: 'get',
      path: `${API}/hosts/:mac/task`,
      summary: "A PC's pending task: none, deploy (ticket, key, share) or capture",
      tag: 'clients',
      access: 'public',
    },
    async (ctx, { params }) => hostTask(deps, ctx, normalMac(params.mac!)),
  );

  api.add(
    {
      method: 'post',
      path: `${API}/tasks/:id/hosts/:mac/progress`,
      summary: "A PC's progress, completion (state done) or failure (state failed, error); answers groupDone, and start for a PC waiting to start together",
      tag: 'clients',
      access: 'host',
      body: ProgressSchema,
    },
    async (ctx, { params, body: progress }) => {
      const taskId = Number(params.id);
      const mac = normalMac(params.mac!);
      const host = await deps.reports.host(taskId, mac);
      requireHostKey(ctx, host, mac, taskId);
      // The key works from the address it went to (a key read off a PC's TFTP files or screen does not report for it).
      if (host!.keyIp !== ctx.ip && !FINAL.includes(host!.state)) await claimTaskKey(deps, taskId, mac, ctx.ip);
      if (FINAL.includes(host!.state)) {
        if (host!.state === 'cancelled') return { groupDone: true, start: false };
        throw new HttpError(409, `host ${mac} already reported ${host!.state} for task ${taskId}`);
      }
      // A host's states go one way (queued, booting, waiting, running, seeding, done); failed may come at any time.
      if (progress.state !== 'failed' && STATE_ORDER.indexOf(progress.state) < STATE_ORDER.indexOf(host!.state)) {
        throw new HttpError(409, `host ${mac} is ${host!.state} in task ${taskId}: it cannot go back to ${progress.state}`);
      }
      // "I hold the image" is believed once proven (portal/tasks/proof.ts): a challenge first, then its answer.
      if ((progress.state === 'seeding' || progress.state === 'done') && !host!.proven) {
        const task = await db('tasks').where({ id: taskId }).select('kind', 'info_hash').first();
        if (task.kind !== 'capture') {
          const image = await imageById(deps, task.info_hash);
          if (!progress.proof) return { groupDone: false, start: true, challenge: deps.proofs.issue(taskId, mac, image) };
          const open = deps.proofs.take(taskId, mac, progress.proof.nonce);
          if (!open) throw new HttpError(409, `host ${mac}: no open challenge with this nonce (report without a proof for a new one)`);
          if ((await expectedProof(deps, image, open)) !== progress.proof.digest) {
            const why = `its proof over pieces ${open.pieces.join(', ')} does not match the image: it does not hold ${image.name} v${image.version}`;
            await db('task_hosts').where({ task_id: taskId, mac }).update({ state: 'failed', error: why, updated_ms: Date.now() });
            deps.reports.stateWritten(taskId, mac, 'failed');
            await hostLog(db, taskId, mac, `failed: ${why}`);
            deps.live.taskChanged(taskId);
            await closeIfOver(deps, taskId);
            throw new HttpError(409, `host ${mac}: ${why}`);
          }
          await db('task_hosts').where({ task_id: taskId, mac }).update({ proven_ms: Date.now() });
          deps.reports.forget(taskId, mac);
          await hostLog(db, taskId, mac, `proved it holds the image (pieces ${open.pieces.join(', ')})`);
        }
      }
      const now = Date.now();
      const error = progress.state === 'failed' ? (progress.error ?? 'failed without a reason') : null;
      const json = JSON.stringify(progress);
      const again = progress.state === 'failed' && progress.tableWiped ? await deploysAgain(db, taskId, mac, error!) : undefined;
      const state: TaskHostState = again ? 'queued' : progress.state;
      // The dashboard shows a PC waiting to deploy again with why, in the error's place.
      const shown = again ?? error;
      deps.live.changed(taskId, taskHostView({ mac, name: host!.name, state, progress: json, error: shown, updated_ms: now }));
      if (state === host!.state) deps.reports.buffer(taskId, mac, json, now);
      else {
        await db('task_hosts')
          .where({ task_id: taskId, mac })
          .update({ state, progress: json, error: shown, updated_ms: now, ...(again && { key_ip: null, proven_ms: null }) });
        deps.reports.stateWritten(taskId, mac, state);
        if (again) deps.reports.forget(taskId, mac);
        const failure = progress.tableWiped
          ? `${WIPED_FAILURE}, for the last time: ${error}; the PC boots nothing until it is deployed again`
          : `failed: ${error}`;
        await hostLog(db, taskId, mac, again ?? (error ? failure : progress.state));
        deps.live.taskChanged(taskId);
        if (FINAL.includes(state)) await closeIfOver(deps, taskId);
      }
      let start = true;
      if (progress.state === 'waiting') {
        const gate = await mayStart(db, taskId, now);
        start = gate.start;
        if (gate.changed) deps.live.taskChanged(taskId);
      }
      return { groupDone: await deps.reports.isGroupDone(taskId, () => groupDone(db, taskId)), start };
    },
  );
}

const STATE_ORDER: readonly TaskHostState[] = ['queued', 'booting', 'waiting', 'running', 'seeding', 'done'];

/** How often a PC left without a partition table deploys again before its failure stands. */
export const DEPLOY_ATTEMPTS = 3;
const WIPED_FAILURE = 'failed after its partition table was wiped';
/** A host's log line when an admin retried it: the wiped-table attempts count again from there. */
const RETRY_LINE = 'retried';
const RetryBody = z.object({ hosts: z.array(z.string()).max(5000).optional() }).strict();

/**
 * A deploy that failed after wiping the disk's table leaves a PC that boots nothing: its task
 * stays, so that its next network boot deploys again (and resumes from what is on its disk), up to
 * DEPLOY_ATTEMPTS times. Returns the log line saying so, or undefined when the failure stands.
 */
async function deploysAgain(db: Knex, taskId: number, mac: string, error: string): Promise<string | undefined> {
  const task = await db('tasks').where({ id: taskId }).first();
  if (task.kind === 'capture' || task.state !== 'active') return undefined;
  const retried = await db('task_host_log').where({ task_id: taskId, mac }).andWhere('message', 'like', `${RETRY_LINE} %`).max('id as id').first();
  const before = Number(
    (
      await db('task_host_log')
        .where({ task_id: taskId, mac })
        .andWhere('message', 'like', `${WIPED_FAILURE}%`)
        .andWhere('id', '>', Number(retried?.id ?? 0))
        .count({ n: '*' })
        .first()
    )?.n ?? 0,
  );
  if (before + 1 >= DEPLOY_ATTEMPTS) return undefined;
  return `${WIPED_FAILURE} (attempt ${before + 1} of ${DEPLOY_ATTEMPTS}): ${error}; it deploys again at its next network boot`;
}

/** The last host of a task finished: the task is done. */
async function closeIfOver(deps: TaskDeps, taskId: number): Promise<void> {
  const states = (await deps.db<TaskHostRow>('task_hosts').where({ task_id: taskId }).select('state')).map((r) => r.state);
  if (states.every((s) => FINAL.includes(s)) && (await deps.db('tasks').where({ id: taskId, state: 'active' }).update({ state: 'done' }))) {
    await afterTask(deps.db, taskId);
    deps.reports.forgetTask(taskId);
    deps.live.taskChanged(taskId);
  }
}

/** A capture that failed leaves its image failed, unless an earlier version stands. */
async function afterTask(db: Knex, taskId: number): Promise<void> {
  const task = await db('tasks').where({ id: taskId }).first();
  if (task.kind !== 'capture') return;
  const failed = await db('task_hosts').where({ task_id: taskId, state: 'failed' }).first();
  const published = await db('images').where({ name: task.image_name }).first();
  if (failed && !published) await db('image_info').where({ name: task.image_name, status: 'pending' }).update({ status: 'failed' });
}
