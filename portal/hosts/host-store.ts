/**
 * Every query on hosts and groups, in one place: the routes say what happens to a host, this
 * module how it is kept. Other features build on it too (a task's hosts are a group's members, or
 * MACs an admin names; a PC's network boot reads its host). Each function takes the database or a
 * transaction, so a route decides what must change together.
 */
import type { Knex } from 'knex';
import type { TaskHostState } from '../../shared/http/api.js';
import { notFound } from '../../shared/http/errors.js';
import type { Db } from '../db/open.js';
import type { GroupRow, HostRow, TaskHostRow, TaskRow } from '../db/tables.js';
import { countsBy } from '../db/counts.js';
import { nameOrder } from '../db/name-order.js';

type Q = Db | Knex.Transaction;

/** Hosts approved in one statement (SQLite takes at most 999 bound values a statement). */
const MACS_PER_UPDATE = 500;

/** A group's approved members, by MAC (a host waiting for approval is not a member yet). */
export const groupMembers = async (db: Q, group: string): Promise<string[]> =>
  (await db('hosts').where({ group_name: group, pending: false }).orderBy('mac').select('mac')).map((r) => r.mac);

/** Registers the MACs not known yet. */
export async function hostsExist(db: Q, macs: string[]): Promise<void> {
  for (const mac of macs) await db('hosts').insert({ mac, created_ms: Date.now() }).onConflict('mac').ignore();
}

// Hosts.

export const findHost = (db: Q, mac: string): Promise<HostRow | undefined> => db('hosts').where({ mac }).first();

export async function hostByMac(db: Q, mac: string): Promise<HostRow> {
  const host = await findHost(db, mac);
  if (!host) throw notFound(`host ${mac}`);
  return host;
}

/** Another host (not `mac`) that has this name. */
export const otherHostNamed = (db: Q, name: string, mac: string): Promise<HostRow | undefined> => db('hosts').where({ name }).whereNot({ mac }).first();

/** What narrows a list of hosts (GET /hosts, a bulk change by filter). */
export interface HostFilter {
  group?: string;
  pending?: boolean;
  search?: string;
  /** Their state in their newest task. */
  state?: TaskHostState;
}

/** The columns a host list sorts by, as the API names them. */
const SORT_COLUMNS = {
  name: 'hosts.name',
  mac: 'hosts.mac',
  group: 'hosts.group_name',
  image: 'hosts.image_name',
  ip: 'hosts.ip',
  lastSeen: 'hosts.last_seen_ms',
  task: 'nt.task_id',
} as const;
export type HostSortColumn = keyof typeof SORT_COLUMNS;

/** A host with its newest task and its image's access, in one row. */
export type ListedHost = HostRow & {
  task_id: number | null;
  task_kind: TaskRow['kind'] | null;
  task_state: TaskHostState | null;
  image_access: string | null;
};

/**
 * The hosts matching `f`, each joined to its newest task (the highest task id it was in) and its
 * image: a state filter and a sort by task are then one query, so a page of 2,000 hosts costs
 * one statement, not one per host.
 */
function matchingHosts(db: Q, f: HostFilter): Knex.QueryBuilder {
  const newest = db('task_hosts').select('mac').max({ task_id: 'task_id' }).groupBy('mac').as('nt');
  let q = db('hosts')
    .leftJoin(newest, 'nt.mac', 'hosts.mac')
    .leftJoin('task_hosts as th', (j) => j.on('th.mac', 'nt.mac').andOn('th.task_id', 'nt.task_id'));
  if (f.group) q = q.where('hosts.group_name', f.group);
  if (f.pending !== undefined) q = q.where('hosts.pending', f.pending);
  if (f.state) q = q.where('th.state', f.state);
  if (f.search) {
    const like = `%${f.search.toLowerCase().replace(/[%_\\]/g, (c) => `\\${c}`)}%`;
    q = q.where((w) => {
      w.whereRaw("lower(coalesce(hosts.name, '')) like ? escape '\\'", [like]).orWhereRaw("hosts.mac like ? escape '\\'", [like]);
    });
  }
  return q;
}

/**
 * Hosts matching `f`, sorted (by name then MAC unless told; hosts without the value last either
 * way), a page of them when `limit` is given, and how many match in all.
 */
export async function listHosts(
  db: Q,
  f: HostFilter & { sort?: HostSortColumn; order?: 'asc' | 'desc'; limit?: number; offset?: number },
): Promise<{ rows: ListedHost[]; total: number }> {
  const column = SORT_COLUMNS[f.sort ?? 'name'];
  const order = f.order ?? 'asc';
  // Names sort as people read them (pc-9 before pc-10), whatever their case (db/name-order.ts).
  // The columns are the fixed names above, never the caller's text.
  const key = f.sort === undefined || f.sort === 'name' ? 'hosts.name_order' : column;
  let q = matchingHosts(db, f)
    .leftJoin('tasks as t', 't.id', 'nt.task_id')
    .leftJoin('image_info as ii', 'ii.name', 'hosts.image_name')
    .select('hosts.*', { task_id: 't.id', task_kind: 't.kind', task_state: 'th.state', image_access: 'ii.access' })
    .orderByRaw(`(${key}) is null`)
    .orderByRaw(`${key} ${order}`)
    .orderBy('hosts.mac', order);
  if (f.limit !== undefined) q = q.limit(f.limit);
  if (f.offset) q = q.offset(f.offset);
  const rows = (await q) as ListedHost[];
  const all = f.limit === undefined && !f.offset;
  const total = all ? rows.length : await countHosts(db, f);
  return { rows, total };
}

/** How many hosts match `f`. */
export async function countHosts(db: Q, f: HostFilter): Promise<number> {
  const row = (await matchingHosts(db, f).count({ n: '*' }).first()) as { n: number | string } | undefined;
  return Number(row?.n ?? 0);
}

/** The MACs of the hosts matching `f`, by MAC. */
export async function macsMatching(db: Q, f: HostFilter): Promise<string[]> {
  return (await matchingHosts(db, f).orderBy('hosts.mac').select<Array<{ mac: string }>>('hosts.mac')).map((r) => r.mac);
}

/** These hosts (those that exist), by MAC. */
export async function hostsIn(db: Q, macs: string[]): Promise<HostRow[]> {
  const out: HostRow[] = [];
  for (let i = 0; i < macs.length; i += MACS_PER_UPDATE)
    out.push(
      ...(await db('hosts')
        .whereIn('mac', macs.slice(i, i + MACS_PER_UPDATE))
        .select<HostRow[]>('*')),
    );
  return out.sort((a, b) => a.mac.localeCompare(b.mac));
}

/** The same change to many hosts, a batch at a time (SQLite's bound values). */
export async function updateHosts(tx: Q, macs: string[], change: Partial<HostRow>): Promise<void> {
  for (let i = 0; i < macs.length; i += MACS_PER_UPDATE)
    await tx('hosts')
      .whereIn('mac', macs.slice(i, i + MACS_PER_UPDATE))
      .update(change);
}

/** Many hosts go, with their part in every task and their logs. */
export async function deleteHosts(tx: Q, macs: string[]): Promise<void> {
  for (let i = 0; i < macs.length; i += MACS_PER_UPDATE) {
    const some = macs.slice(i, i + MACS_PER_UPDATE);
    await tx('task_host_log').whereIn('mac', some).delete();
    await tx('task_hosts').whereIn('mac', some).delete();
    await tx('hosts').whereIn('mac', some).delete();
  }
}

/** A host in a task that is not over, with that task. */
export type BusyHost = { mac: string; name: string | null; task_id: number };

/** Those of these hosts in a task active or scheduled, by task then name. */
export async function openTasksOf(db: Q, macs: string[]): Promise<BusyHost[]> {
  const out: BusyHost[] = [];
  for (let i = 0; i < macs.length; i += MACS_PER_UPDATE)
    out.push(
      ...(await db('task_hosts')
        .join('tasks', 'tasks.id', 'task_hosts.task_id')
        .join('hosts', 'hosts.mac', 'task_hosts.mac')
        .whereIn('task_hosts.mac', macs.slice(i, i + MACS_PER_UPDATE))
        .whereIn('tasks.state', ['active', 'scheduled'])
        .orderBy(['task_hosts.task_id', 'hosts.name', 'hosts.mac'])
        .select<BusyHost[]>('task_hosts.mac', 'hosts.name', 'task_hosts.task_id')),
    );
  return out;
}

/** Every task a host was in, newest first, with its state there. */
export const hostHistory = (
  db: Q,
  mac: string,
): Promise<
  Array<
    Pick<TaskRow, 'id' | 'kind' | 'image_name' | 'image_version' | 'created_ms'> & { task_state: TaskRow['state'] } & Pick<
        TaskHostRow,
        'state' | 'error' | 'updated_ms'
      >
  >
> =>
  db('task_hosts')
    .join('tasks', 'tasks.id', 'task_hosts.task_id')
    .where('task_hosts.mac', mac)
    .orderBy('tasks.id', 'desc')
    .select(
      'tasks.id',
      'tasks.kind',
      'tasks.image_name',
      'tasks.image_version',
      'tasks.created_ms',
      { task_state: 'tasks.state' },
      'task_hosts.state',
      'task_hosts.error',
      'task_hosts.updated_ms',
    );

/** Every host, by MAC. */
export const hostsByMac = (db: Q): Promise<HostRow[]> => db('hosts').orderBy('mac');

/** A row with its name's sort key beside the name, when the name is among what is written. */
const withNameOrder = <T extends Partial<HostRow>>(row: T): T => ('name' in row ? { ...row, name_order: nameOrder(row.name) } : row);

export async function insertHost(db: Q, row: Partial<HostRow> & Pick<HostRow, 'mac'>): Promise<void> {
  await db('hosts').insert(withNameOrder(row));
}

export async function updateHost(db: Q, mac: string, change: Partial<HostRow>): Promise<void> {
  await db('hosts').where({ mac }).update(withNameOrder(change));
}

/** The host was seen on the network, from this address, now. */
export async function hostSeen(db: Q, mac: string, ip: string): Promise<void> {
  await updateHost(db, mac, { ip, last_seen_ms: Date.now() });
}

/** A host goes with its part in every task and its logs there. */
export async function deleteHost(tx: Q, mac: string): Promise<void> {
  await tx('task_host_log').where({ mac }).delete();
  await tx('task_hosts').where({ mac }).delete();
  await tx('hosts').where({ mac }).delete();
}

/** A host's newest task and its state there. */
export type NewestTask = Pick<TaskRow, 'id' | 'kind'> & { state: TaskHostState };

/** Each host's newest task (of these hosts, or of all). */
export async function newestTasks(db: Q, macs?: string[]): Promise<Map<string, NewestTask>> {
  // Each host's highest task id first, so a long history costs one row per host, not one per task.
  let latest = db('task_hosts').select('mac').max({ task_id: 'task_id' }).groupBy('mac');
  if (macs) latest = latest.whereIn('mac', macs);
  const rows = await db('task_hosts')
    .join(latest.as('l'), (j) => j.on('task_hosts.mac', 'l.mac').andOn('task_hosts.task_id', 'l.task_id'))
    .join('tasks', 'tasks.id', 'task_hosts.task_id')
    .select<Array<NewestTask & { mac: string }>>('task_hosts.mac', 'task_hosts.state', 'tasks.id', 'tasks.kind');
  return new Map(rows.map((r) => [r.mac, { id: r.id, kind: r.kind, state: r.state }]));
}

/** The task, active or scheduled, this host is in (whatever its own state there); undefined if none. */
export async function openTaskOfHost(db: Q, mac: string): Promise<number | undefined> {
  const row = (await db('task_hosts')
    .join('tasks', 'tasks.id', 'task_hosts.task_id')
    .where('task_hosts.mac', mac)
    .whereIn('tasks.state', ['active', 'scheduled'])
    .select('task_hosts.task_id')
    .first()) as { task_id: number } | undefined;
  return row?.task_id;
}

/** How many hosts wait for approval. */
export async function pendingCount(db: Q): Promise<number> {
  return Number((await db('hosts').where({ pending: true }).count({ n: '*' }).first())?.n ?? 0);
}

/** Approves the hosts waiting for approval (of these MACs, or all); returns the MACs approved. */
export async function approvePending(tx: Q, macs?: string[]): Promise<string[]> {
  const q = tx('hosts').where({ pending: true });
  const approved = (await (macs ? q.whereIn('mac', macs) : q).select('mac')).map((r) => r.mac);
  for (let i = 0; i < approved.length; i += MACS_PER_UPDATE)
    await tx('hosts')
      .whereIn('mac', approved.slice(i, i + MACS_PER_UPDATE))
      .update({ pending: false });
  return approved;
}

/** A group's approved members with what their PCs last said of themselves (wake needs their subnets), by MAC. */
export const memberInventories = (db: Q, group: string): Promise<Array<Pick<HostRow, 'mac' | 'inventory'>>> =>
  db('hosts').where({ group_name: group, pending: false }).orderBy('mac').select('mac', 'inventory');

// Groups.

export const listGroups = (db: Q): Promise<GroupRow[]> => db('groups').orderBy('name');

export const findGroup = (db: Q, name: string): Promise<GroupRow | undefined> => db('groups').where({ name }).first();

export async function groupByName(db: Q, name: string): Promise<GroupRow> {
  const group = await findGroup(db, name);
  if (!group) throw notFound(`group ${name}`);
  return group;
}

export async function insertGroup(db: Q, row: Pick<GroupRow, 'name' | 'description' | 'created_ms'>): Promise<void> {
  await db('groups').insert(row);
}

export async function updateGroup(db: Q, name: string, change: Partial<GroupRow>): Promise<void> {
  await db('groups').where({ name }).update(change);
}

export async function deleteGroup(db: Q, name: string): Promise<void> {
  await db('groups').where({ name }).delete();
}

/** How many approved members each group has (a group with none is not in the map). */
export const groupSizes = (db: Q): Promise<Map<string, number>> => countsBy(db, 'hosts', 'group_name', { pending: false });

/** How many approved members a group has. */
export async function memberCount(db: Q, group: string): Promise<number> {
  return Number((await db('hosts').where({ group_name: group, pending: false }).count({ n: '*' }).first())?.n ?? 0);
}

/** How many hosts are in a group, those waiting for approval too. */
export async function hostCountInGroup(db: Q, group: string): Promise<number> {
  return Number((await db('hosts').where({ group_name: group }).count({ n: '*' }).first())?.n ?? 0);
}
