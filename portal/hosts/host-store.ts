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
import type { GroupRow, HostRow, TaskRow } from '../db/tables.js';
import { countsBy } from '../db/counts.js';

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

/** Hosts waiting for approval among these are approved. */
export async function approveHosts(db: Q, macs: string[]): Promise<void> {
  await db('hosts').whereIn('mac', macs).andWhere({ pending: true }).update({ pending: false });
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

/** Hosts by name then MAC: those of a group, pending or approved ones, whose name or MAC holds `search` (any case). */
export async function listHosts(db: Q, o: { group?: string; pending?: boolean; search?: string }): Promise<HostRow[]> {
  let q = db('hosts').orderBy([{ column: 'name' }, { column: 'mac' }]);
  if (o.group) q = q.where({ group_name: o.group });
  if (o.pending !== undefined) q = q.where({ pending: o.pending });
  if (o.search) {
    const like = `%${o.search.toLowerCase().replace(/[%_\\]/g, (c) => `\\${c}`)}%`;
    q = q.where((w) => {
      w.whereRaw("lower(coalesce(name, '')) like ? escape '\\'", [like]).orWhereRaw("mac like ? escape '\\'", [like]);
    });
  }
  return q;
}

/** Every host, by MAC. */
export const hostsByMac = (db: Q): Promise<HostRow[]> => db('hosts').orderBy('mac');

export async function insertHost(db: Q, row: Partial<HostRow> & Pick<HostRow, 'mac'>): Promise<void> {
  await db('hosts').insert(row);
}

export async function updateHost(db: Q, mac: string, change: Partial<HostRow>): Promise<void> {
  await db('hosts').where({ mac }).update(change);
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
