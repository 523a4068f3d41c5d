/**
 * Tasks: the admin deploys an image to a set of PCs (by MAC); each PC gets its own swarm key. PCs
 * fetch their task, report progress, and learn when the whole group is done so they stop seeding.
 */
import type Router from '@koa/router';
import type { Context } from 'koa';
import { timingSafeEqual } from 'node:crypto';
import { API, CreateTaskSchema, MacSchema, ProgressSchema, type HostState, type HostTask } from '../../shared/api.js';
import { holderOfMac, issueSwarmKey, uploadKeyScope } from '../../shared/swarm-key.js';
import { assertImageName } from '../../shared/image-name.js';
import type { z } from 'zod';
import { requireAdmin } from '../auth.js';
import { bearer } from '../../shared/http-server.js';
import type { PortalDeps } from '../deps.js';
import { HttpError, notFound } from '../../shared/http-errors.js';
import { findImage, imageById, issueKey, makeTicket } from '../tickets.js';

/** A MAC as the portal stores it: lower case with colons. */
export const normalMac = (mac: string): string => MacSchema.parse(mac).toLowerCase().replace(/-/g, ':');

/** Everyone holds the image (or gave up): lingering PCs may leave. */
const HOLDS_OR_GAVE_UP: HostState[] = ['seeding', 'done', 'failed'];
const FINISHED: HostState[] = ['done', 'failed'];
const KEY_RENEW_BEFORE_MS = 3_600_000;

interface TaskHostRow {
  task_id: number;
  mac: string;
  key: string;
  key_expires_ms: number;
  state: HostState;
  progress: string | null;
  updated_ms: number | null;
}

async function groupDone(deps: PortalDeps, taskId: number): Promise<boolean> {
  if ((await deps.db('tasks').where({ id: taskId }).first())?.state === 'cancelled') return true;
  const states = (await deps.db<TaskHostRow>('task_hosts').where({ task_id: taskId }).select('state')).map((r) => r.state);
  return states.length > 0 && states.every((s) => HOLDS_OR_GAVE_UP.includes(s));
}

async function describeTask(deps: PortalDeps, id: number) {
  const task = await deps.db('tasks').where({ id }).first();
  if (!task) throw notFound(`task ${id}`);
  const image = task.info_hash ? await imageById(deps, task.info_hash) : { name: task.image_name, version: null, info_hash: null };
  const hosts = await deps.db<TaskHostRow>('task_hosts').where({ task_id: id }).orderBy('mac');
  return {
    id: task.id, kind: task.kind, state: task.state, lingerSeconds: task.linger_seconds,
    image: { name: image.name, version: image.version, infoHash: image.info_hash },
    createdAt: new Date(Number(task.created_ms)).toISOString(),
    groupDone: await groupDone(deps, id),
    hosts: hosts.map((h) => ({ mac: h.mac, state: h.state, progress: h.progress ? JSON.parse(h.progress) : null, updatedAt: h.updated_ms ? new Date(Number(h.updated_ms)).toISOString() : null })),
  };
}

function requireHostKey(ctx: Context, row: TaskHostRow | undefined): TaskHostRow {
  if (!row) throw notFound('this host in this task');
  const given = Buffer.from(bearer(ctx) ?? '');
  const want = Buffer.from(row.key);
  if (given.length !== want.length || !timingSafeEqual(given, want)) throw new HttpError(403, 'this needs the key the portal gave this host for this task');
  return row;
}

/** A capture task: one PC sends its disk to a storage node, with a key to upload image NAME there. */
async function createCapture(deps: PortalDeps, req: z.infer<typeof CreateTaskSchema>, macs: string[]): Promise<number> {
  assertImageName(req.image);
  if (!req.type) throw new HttpError(400, 'a capture task needs the image type (resizable, multipart, alldisks or raw)');
  if (macs.length !== 1) throw new HttpError(400, 'a capture task is for one host');
  const live = await deps.db('nodes').where('last_seen_ms', '>=', Date.now() - deps.config.nodeTimeoutMs).orderBy('name');
  const node = req.node ? live.find((n: { name: string }) => n.name === req.node) : live[0];
  if (!node) throw new HttpError(409, req.node ? `storage node ${req.node} is not up` : 'no storage node is up to receive the capture');
  const mac = macs[0]!;
  return deps.db.transaction(async (tx) => {
    const busy = await tx('task_hosts').join('tasks', 'tasks.id', 'task_hosts.task_id').where({ 'task_hosts.mac': mac, 'tasks.state': 'active' })
      .whereNotIn('task_hosts.state', FINISHED).first();
    if (busy) throw new HttpError(409, `already in an active task: ${mac} (task ${busy.task_id})`);
    await tx('hosts').insert({ mac }).onConflict('mac').ignore();
    // The portal picks the version, so that captures on two nodes never publish two images as one.
    const published = await tx('images').where({ name: req.image }).max('version as v').first();
    const assigned = await tx('tasks').where({ kind: 'capture', image_name: req.image }).max('image_version as v').first();
    const version = Math.max(Number(published?.v ?? 0), Number(assigned?.v ?? 0)) + 1;
    const [row] = await tx('tasks').insert({
      kind: 'capture', state: 'active', linger_seconds: 0, created_ms: Date.now(), image_name: req.image, image_type: req.type, node: node.name, image_version: version,
    }).returning('id');
    const taskId = typeof row === 'object' ? (row as { id: number }).id : (row as number);
    const expiresMs = Date.now() + deps.config.keyLifetimeMs;
    const key = issueSwarmKey(deps.config.secret, uploadKeyScope(req.image), holderOfMac(mac), expiresMs);
    await tx('task_hosts').insert({ task_id: taskId, mac, key, key_expires_ms: expiresMs, state: 'pending' });
    return taskId;
  });
}

export function taskRoutes(router: Router, deps: PortalDeps): void {
  const { db } = deps;

  router.post(`${API}/tasks`, async (ctx) => {
    requireAdmin(ctx, deps.config.adminToken);
    const req = CreateTaskSchema.parse(ctx.request.body);
    const macs = [...new Set(req.hosts.map(normalMac))];
    if (req.kind === 'capture') {
      ctx.status = 201;
      ctx.body = await describeTask(deps, await createCapture(deps, req, macs));
      return;
    }
    const image = await findImage(deps, req.image, req.version);
    const now = Date.now();
    const id = await db.transaction(async (tx) => {
      const busy = await tx('task_hosts').join('tasks', 'tasks.id', 'task_hosts.task_id').whereIn('task_hosts.mac', macs).andWhere('tasks.state', 'active')
        .whereNotIn('task_hosts.state', FINISHED).select('task_hosts.mac', 'tasks.id');
      if (busy.length) throw new HttpError(409, `already in an active task: ${busy.map((b: { mac: string; id: number }) => `${b.mac} (task ${b.id})`).join(', ')}`);
      for (const mac of macs) await tx('hosts').insert({ mac }).onConflict('mac').ignore();
      const [row] = await tx('tasks').insert({ kind: 'deploy', info_hash: image.info_hash, state: 'active', linger_seconds: req.lingerSeconds, created_ms: now }).returning('id');
      const taskId = typeof row === 'object' ? (row as { id: number }).id : (row as number);
      await tx('task_hosts').insert(macs.map((mac) => {
        const { key, expiresMs } = issueKey(deps, image.info_hash, holderOfMac(mac));
        return { task_id: taskId, mac, key, key_expires_ms: expiresMs, state: 'pending' };
      }));
      return taskId;
    });
    ctx.status = 201;
    ctx.body = await describeTask(deps, id);
  });

  router.get(`${API}/tasks`, async (ctx) => {
    requireAdmin(ctx, deps.config.adminToken);
    const ids = (await db('tasks').select('id').orderBy('id', 'desc').limit(100)).map((r: { id: number }) => r.id);
    ctx.body = { tasks: await Promise.all(ids.map((id) => describeTask(deps, id))) };
  });

  // A task whose PCs never came (or that should stop) is cancelled: its hosts are free again, its
  // keys no longer fetch it, and PCs still in it see `groupDone` and leave.
  router.post(`${API}/tasks/:id/cancel`, async (ctx) => {
    requireAdmin(ctx, deps.config.adminToken);
    const id = Number(ctx.params.id);
    const task = await db('tasks').where({ id }).first();
    if (!task) throw notFound(`task ${id}`);
    if (task.state !== 'active') throw new HttpError(409, `task ${id} is already ${task.state}`);
    await db('tasks').where({ id }).update({ state: 'cancelled' });
    ctx.body = await describeTask(deps, id);
  });

  router.get(`${API}/tasks/:id`, async (ctx) => {
    requireAdmin(ctx, deps.config.adminToken);
    ctx.body = await describeTask(deps, Number(ctx.params.id));
  });

  // A PC (PXE-booted `shoal join`) registers by MAC and asks for its pending task.
  router.post(`${API}/hosts/register`, async (ctx) => {
    const mac = normalMac(String((ctx.request.body as { mac?: unknown })?.mac ?? ''));
    await db('hosts').insert({ mac, ip: ctx.ip, last_seen_ms: Date.now() }).onConflict('mac').merge();
    ctx.body = { mac };
  });

  router.get(`${API}/hosts/:mac/task`, async (ctx) => {
    const mac = normalMac(ctx.params.mac!);
    const row = await db('task_hosts').join('tasks', 'tasks.id', 'task_hosts.task_id')
      .where({ 'task_hosts.mac': mac, 'tasks.state': 'active' }).whereNotIn('task_hosts.state', FINISHED)
      .select('task_hosts.*', 'tasks.info_hash', 'tasks.linger_seconds', 'tasks.kind', 'tasks.image_name', 'tasks.image_type', 'tasks.image_version', 'tasks.node').first();
    if (!row) {
      ctx.body = { kind: 'none' } satisfies HostTask;
      return;
    }
    // A PC that boots long after the task was made gets its key renewed rather than refused.
    if (Number(row.key_expires_ms) < Date.now() + KEY_RENEW_BEFORE_MS) {
      const holder = holderOfMac(mac);
      const expiresMs = Date.now() + deps.config.keyLifetimeMs;
      const scope = row.kind === 'capture' ? uploadKeyScope(row.image_name) : row.info_hash;
      row.key = issueSwarmKey(deps.config.secret, scope, holder, expiresMs);
      row.key_expires_ms = expiresMs;
      await db('task_hosts').where({ task_id: row.task_id, mac }).update({ key: row.key, key_expires_ms: expiresMs });
    }
    if (row.kind === 'capture') {
      const node = await db('nodes').where({ name: row.node }).first();
      if (!node) throw new HttpError(409, `storage node ${row.node} of capture task ${row.task_id} is unknown`);
      const resume = row.progress ? (JSON.parse(row.progress) as { uploadId?: string }).uploadId : undefined;
      ctx.body = {
        kind: 'capture', taskId: row.task_id, key: row.key, image: row.image_name, version: row.image_version, type: row.image_type, nodeUrl: node.http_url, ...(resume && { resume }),
      } satisfies HostTask;
      return;
    }
    const image = await imageById(deps, row.info_hash);
    const group = (await db('task_hosts').where({ task_id: row.task_id }).select('mac').orderBy('mac')).map((r: { mac: string }) => r.mac);
    ctx.body = {
      kind: 'deploy', taskId: row.task_id, key: row.key, lingerSeconds: row.linger_seconds,
      share: { index: group.indexOf(mac), count: group.length },
      ticket: await makeTicket(deps, image, row.key, Number(row.key_expires_ms)),
    } satisfies HostTask;
  });

  router.post(`${API}/tasks/:id/hosts/:mac/progress`, async (ctx) => {
    const taskId = Number(ctx.params.id);
    const mac = normalMac(ctx.params.mac!);
    const row = requireHostKey(ctx, await db<TaskHostRow>('task_hosts').where({ task_id: taskId, mac }).first());
    const progress = ProgressSchema.parse(ctx.request.body);
    if (FINISHED.includes(row.state)) throw new HttpError(409, `host ${mac} already reported ${row.state} for task ${taskId}`);
    await db('task_hosts').where({ task_id: taskId, mac }).update({ state: progress.state, progress: JSON.stringify(progress), updated_ms: Date.now() });
    const states = (await db<TaskHostRow>('task_hosts').where({ task_id: taskId }).select('state')).map((r) => r.state);
    if (states.every((s) => FINISHED.includes(s))) await db('tasks').where({ id: taskId, state: 'active' }).update({ state: 'done' });
    ctx.body = { groupDone: await groupDone(deps, taskId) };
  });
}
