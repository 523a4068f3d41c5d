/**
 * Every query on tasks, their hosts and the hosts' logs, in one place: the routes say what
 * happens to a task, this module how it is kept. Each function takes the database or a
 * transaction, so a route decides what must change together.
 */
import type { Knex } from 'knex';
import { TaskHostStateSchema, type TaskHostState } from '../../shared/http/api.js';
import { notFound } from '../../shared/http/errors.js';
import { insertedId, type Db } from '../db/open.js';
import type { TaskHostRow, TaskRow } from '../db/tables.js';
import type { TaskState } from '../../shared/http/portal-contract.js';

type Q = Db | Knex.Transaction;

/** A host's part in a task is over. */
export const FINAL: TaskHostState[] = ['done', 'failed', 'cancelled'];
/** Everyone holds the image (or gave up): lingering PCs may leave. */
const HOLDS_OR_GAVE_UP: TaskHostState[] = ['seeding', 'done', 'failed', 'cancelled'];
/** A host's log line when an admin retried it: the wiped-table attempts count again from there. */
export const RETRY_LINE = 'retried';
/** How a host's log says a deploy failed after wiping its disk's table (counted per attempt). */
export const WIPED_FAILURE = 'failed after its partition table was wiped';
/** SQLite takes at most 999 bound values a statement. */
const ROWS_PER_INSERT = 100;

export async function taskById(db: Q, id: number): Promise<TaskRow> {
  const task = await db('tasks').where({ id }).first();
  if (!task) throw notFound(`task ${id}`);
  return task;
}

export const findTask = (db: Q, id: number): Promise<TaskRow | undefined> => db('tasks').where({ id }).first();

export async function listTasks(db: Q, o: { state?: TaskState; limit: number; offset?: number }): Promise<{ rows: TaskRow[]; total: number }> {
  const matching = () => (o.state ? db('tasks').where({ state: o.state }) : db('tasks'));
  const rows = await matching()
    .orderBy('id', 'desc')
    .limit(o.limit)
    .offset(o.offset ?? 0);
  const [{ n }] = (await matching().count({ n: '*' })) as [{ n: number | string }];
  return { rows, total: Number(n) };
}

export async function insertTask(tx: Q, row: Omit<TaskRow, 'id'>): Promise<number> {
  return insertedId((await tx('tasks').insert(row).returning('id'))[0]);
}

export async function insertTaskHosts(tx: Q, rows: TaskHostRow[]): Promise<void> {
  for (let i = 0; i < rows.length; i += ROWS_PER_INSERT) await tx('task_hosts').insert(rows.slice(i, i + ROWS_PER_INSERT));
}

/** How many of a task's hosts are in each state (every state present, 0 if none). */
export async function hostCounts(db: Q, taskId: number): Promise<Record<TaskHostState, number>> {
  const counts = Object.fromEntries(TaskHostStateSchema.options.map((s) => [s, 0])) as Record<TaskHostState, number>;
  const rows = await db('task_hosts').where({ task_id: taskId }).groupBy('state').select('state').count({ n: '*' });
  for (const r of rows) counts[r.state] = Number(r.n);
  return counts;
}

/** Every host of the task holds the image or gave up (or the task was cancelled). */
export async function groupDone(db: Q, taskId: number): Promise<boolean> {
  if ((await findTask(db, taskId))?.state === 'cancelled') return true;
  const states = await hostStates(db, taskId);
  return states.length > 0 && states.every((s) => HOLDS_OR_GAVE_UP.includes(s));
}

const hostStates = async (db: Q, taskId: number): Promise<TaskHostState[]> =>
  (await db('task_hosts').where({ task_id: taskId }).select('state')).map((r) => r.state);

export type NamedTaskHost = Pick<TaskHostRow, 'mac' | 'state' | 'progress' | 'error' | 'updated_ms'> & { name: string | null };

const namedHosts = (db: Q, taskId: number) =>
  db('task_hosts')
    .leftJoin('hosts', 'hosts.mac', 'task_hosts.mac')
    .where({ task_id: taskId })
    .select('task_hosts.mac', 'task_hosts.state', 'task_hosts.progress', 'task_hosts.error', 'task_hosts.updated_ms', 'hosts.name');

/** A task's hosts with their names, by MAC. */
export const taskHostsNamed = async (db: Q, taskId: number): Promise<NamedTaskHost[]> =>
  (await namedHosts(db, taskId).orderBy('task_hosts.mac')) as NamedTaskHost[];

/** One host of a task with its name. */
export async function taskHostNamed(db: Q, taskId: number, mac: string): Promise<NamedTaskHost | undefined> {
  return (await namedHosts(db, taskId).where('task_hosts.mac', mac).first()) as NamedTaskHost | undefined;
}

export const taskHost = (db: Q, taskId: number, mac: string): Promise<TaskHostRow | undefined> => db('task_hosts').where({ task_id: taskId, mac }).first();

/**
 * A task's hosts in MAC order, each with the address its PC last registered from (null before it
 * ever has): what a PC's share of the pieces is dealt from (pc-routes.ts, shared/swarm/room-shares.ts).
 */
export const taskMembers = async (db: Q, taskId: number): Promise<Array<{ mac: string; ip: string | null }>> =>
  db('task_hosts')
    .leftJoin('hosts', 'hosts.mac', 'task_hosts.mac')
    .where('task_hosts.task_id', taskId)
    .select('task_hosts.mac as mac', 'hosts.ip as ip')
    .orderBy('task_hosts.mac');

export async function updateTaskHost(db: Q, taskId: number, mac: string, change: Partial<TaskHostRow>, only?: Partial<TaskHostRow>): Promise<number> {
  return db('task_hosts')
    .where({ task_id: taskId, mac, ...only })
    .update(change);
}

export async function addHostLog(db: Q, taskId: number, mac: string, message: string): Promise<void> {
  await db('task_host_log').insert({ task_id: taskId, mac, at_ms: Date.now(), message: message.slice(0, 2000) });
}

export async function addHostLogs(db: Q, rows: Array<{ task_id: number; mac: string; at_ms: number; message: string }>): Promise<void> {
  for (let i = 0; i < rows.length; i += ROWS_PER_INSERT) await db('task_host_log').insert(rows.slice(i, i + ROWS_PER_INSERT));
}

export async function hostLogEntries(db: Q, taskId: number, mac: string): Promise<Array<{ at_ms: number; message: string }>> {
  return db('task_host_log').where({ task_id: taskId, mac }).orderBy('id').select('at_ms', 'message');
}

/** Scheduled tasks whose time has come. */
export const dueTaskIds = async (db: Q, now: number): Promise<number[]> =>
  (await db('tasks').where({ state: 'scheduled' }).andWhere('scheduled_ms', '<=', now).select('id')).map((r) => r.id);

/** Moves a task from one state to another; false when it was no longer in `from`. */
export const moveTask = async (db: Q, id: number, from: TaskState, to: TaskState): Promise<boolean> =>
  (await db('tasks').where({ id, state: from }).update({ state: to })) > 0;

/** The queued hosts of a task (or those of `only`), with what their PCs last said of their network. */
export async function queuedHosts(db: Q, taskId: number, only?: string[]): Promise<Array<{ mac: string; inventory: string | null }>> {
  const q = db('task_hosts').leftJoin('hosts', 'hosts.mac', 'task_hosts.mac').where('task_id', taskId).where('task_hosts.state', 'queued');
  return (only ? q.whereIn('task_hosts.mac', only) : q).orderBy('task_hosts.mac').select('task_hosts.mac', 'hosts.inventory');
}

/** Which of these hosts are in a task that is not over, and which task. */
export async function busyHosts(tx: Q, macs: string[]): Promise<Array<{ mac: string; id: number }>> {
  return tx('task_hosts')
    .join('tasks', 'tasks.id', 'task_hosts.task_id')
    .whereIn('task_hosts.mac', macs)
    .whereIn('tasks.state', ['active', 'scheduled'])
    .whereNotIn('task_hosts.state', FINAL)
    .select('task_hosts.mac', 'tasks.id');
}

/** A host's open part in an active task, with what of the task its PC needs. */
export type ActiveTaskHost = TaskHostRow &
  Pick<
    TaskRow,
    | 'info_hash'
    | 'linger_seconds'
    | 'kind'
    | 'image_name'
    | 'image_type'
    | 'image_version'
    | 'node'
    | 'min_receivers'
    | 'max_wait_seconds'
    | 'first_ready_ms'
    | 'started_ms'
  >;

export async function activeTaskOfHost(db: Q, mac: string): Promise<ActiveTaskHost | undefined> {
  return (await db('task_hosts')
    .join('tasks', 'tasks.id', 'task_hosts.task_id')
    .where('task_hosts.mac', mac)
    .where('tasks.state', 'active')
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
    .first()) as ActiveTaskHost | undefined;
}

/** Cancels a task: its hosts not finished become cancelled, each with a line in its log. */
export async function cancelTaskHosts(tx: Q, id: number, by: string): Promise<void> {
  await tx('tasks').where({ id }).update({ state: 'cancelled' });
  const open = await tx('task_hosts').where({ task_id: id }).whereNotIn('state', FINAL).select('mac');
  await tx('task_hosts').where({ task_id: id }).whereNotIn('state', FINAL).update({ state: 'cancelled', updated_ms: Date.now() });
  await addHostLogs(
    tx,
    open.map(({ mac }) => ({ task_id: id, mac, at_ms: Date.now(), message: `cancelled by ${by}` })),
  );
}

/** Cancels one host's part in a task; false when it was already over. */
export async function cancelTaskHost(tx: Q, id: number, mac: string, by: string): Promise<boolean> {
  const n = await tx('task_hosts').where({ task_id: id, mac }).whereNotIn('state', FINAL).update({ state: 'cancelled', updated_ms: Date.now() });
  if (n) await addHostLog(tx, id, mac, `cancelled by ${by}`);
  return n > 0;
}

export const failedMacs = async (db: Q, taskId: number): Promise<string[]> =>
  (await db('task_hosts').where({ task_id: taskId, state: 'failed' }).select('mac')).map((r) => r.mac);

/** How often this host's deploy failed after wiping its table since an admin last retried it. */
export async function wipedFailuresSinceRetry(db: Q, taskId: number, mac: string): Promise<number> {
  const retried = await db('task_host_log').where({ task_id: taskId, mac }).andWhere('message', 'like', `${RETRY_LINE} %`).max({ id: 'id' }).first();
  const n = await db('task_host_log')
    .where({ task_id: taskId, mac })
    .andWhere('message', 'like', `${WIPED_FAILURE}%`)
    .andWhere('id', '>', Number(retried?.id ?? 0))
    .count({ n: '*' })
    .first();
  return Number(n?.n ?? 0);
}

/** An active task whose hosts are all finished becomes done; true when this call made it so. */
export async function closeIfAllFinal(db: Q, taskId: number): Promise<boolean> {
  const states = await hostStates(db, taskId);
  return states.every((s) => FINAL.includes(s)) && (await moveTask(db, taskId, 'active', 'done'));
}

/** A capture that failed leaves its image failed, unless an earlier version stands. */
export async function markFailedCapture(db: Q, task: TaskRow): Promise<void> {
  if (task.kind !== 'capture' || !task.image_name) return;
  const failed = await db('task_hosts').where({ task_id: task.id, state: 'failed' }).first();
  const published = await db('images').where({ name: task.image_name }).first();
  if (failed && !published) await db('image_info').where({ name: task.image_name, status: 'pending' }).update({ status: 'failed' });
}

/** A start-together task's first PC is ready: noted once, by the first report that sees it. */
export async function markFirstReady(db: Q, taskId: number, at: number): Promise<void> {
  await db('tasks').where({ id: taskId }).whereNull('first_ready_ms').update({ first_ready_ms: at });
}

/** Opens a start-together task's gate; true when this call opened it (not a report before it). */
export const openStartGate = async (db: Q, taskId: number, at: number): Promise<boolean> =>
  (await db('tasks').where({ id: taskId }).whereNull('started_ms').update({ started_ms: at })) > 0;

/** What the report cache keeps of a host in a task: its key, state, the key's address, its proof, its name. */
export type ReportingHostRow = Pick<TaskHostRow, 'key' | 'state' | 'key_ip' | 'proven_ms'> & { name: string | null };

export async function reportingHost(db: Q, taskId: number, mac: string): Promise<ReportingHostRow | undefined> {
  return db('task_hosts')
    .leftJoin('hosts', 'hosts.mac', 'task_hosts.mac')
    .where('task_hosts.task_id', taskId)
    .where('task_hosts.mac', mac)
    .select<ReportingHostRow[]>('task_hosts.key', 'task_hosts.state', 'task_hosts.key_ip', 'task_hosts.proven_ms', 'hosts.name')
    .first();
}

/** What a PC's network boot needs of its open part in an active task (boot/: the iPXE script, the GRUB directories). */
export interface BootRow {
  mac: string;
  key: string;
  task_id: number;
  finish: string;
  disk: string | null;
}

/** The open parts in active tasks (of one host, or of all), with what their PCs' network boot needs. */
export async function activeBoots(db: Q, mac?: string): Promise<BootRow[]> {
  const q = db('task_hosts')
    .join('tasks', 'tasks.id', 'task_hosts.task_id')
    .leftJoin('hosts', 'hosts.mac', 'task_hosts.mac')
    .where('tasks.state', 'active')
    .whereNotIn('task_hosts.state', FINAL)
    .select('task_hosts.mac', 'task_hosts.key', 'task_hosts.task_id', 'tasks.finish', 'hosts.disk');
  return (await (mac === undefined ? q : q.where('task_hosts.mac', mac))) as BootRow[];
}

/** Hosts whose part in a task failed since `sinceMs`, newest first, with their names. */
export async function failedSince(db: Q, sinceMs: number, limit: number): Promise<Array<NamedTaskHost & { task_id: number }>> {
  return db('task_hosts')
    .leftJoin('hosts', 'hosts.mac', 'task_hosts.mac')
    .where('task_hosts.state', 'failed')
    .andWhere('task_hosts.updated_ms', '>=', sinceMs)
    .orderBy('task_hosts.updated_ms', 'desc')
    .limit(limit)
    .select('task_hosts.task_id', 'task_hosts.mac', 'task_hosts.state', 'task_hosts.progress', 'task_hosts.error', 'task_hosts.updated_ms', 'hosts.name');
}

/** When each host part that ended done or failed since `sinceMs` ended (deploys and multicast; not captures). */
export async function deployEndsSince(db: Q, sinceMs: number): Promise<Array<{ state: TaskHostState; updated_ms: number }>> {
  return db('task_hosts')
    .join('tasks', 'tasks.id', 'task_hosts.task_id')
    .whereIn('task_hosts.state', ['done', 'failed'])
    .whereNot('tasks.kind', 'capture')
    .andWhere('task_hosts.updated_ms', '>=', sinceMs)
    .select('task_hosts.state', 'task_hosts.updated_ms');
}

/** The active and scheduled tasks, newest first, and their hosts' latest reports. */
export async function openTasks(db: Q): Promise<TaskRow[]> {
  return db('tasks').whereIn('state', ['active', 'scheduled']).orderBy('id', 'desc').limit(200);
}

export async function hostProgress(db: Q, taskId: number): Promise<Array<Pick<TaskHostRow, 'state' | 'progress'>>> {
  return db('task_hosts').where({ task_id: taskId }).select('state', 'progress');
}
