/**
 * Every query on the image catalog: versions (images), what is said of each name (image_info), and
 * which storage nodes hold which version (node_images), with the load the portal has handed each.
 */
import type { Knex } from 'knex';
import { HttpError, notFound } from '../../shared/http/errors.js';
import type { Caller } from '../access/auth.js';
import type { Db } from '../db/open.js';
import type { ImageInfoRow, ImageRow, TaskRow } from '../db/tables.js';
import { countsBy } from '../db/counts.js';

type Q = Db | Knex.Transaction;

export const findImageByHash = (db: Q, infoHash: string): Promise<ImageRow | undefined> => db('images').where({ info_hash: infoHash }).first();

export const imageInfo = (db: Q, name: string): Promise<ImageInfoRow | undefined> => db('image_info').where({ name }).first();

/**
 * Why no new task or host may take this image, in an admin's words; undefined when it may be used.
 * A retired image stays on disk and hosts keep it; a deleted one's files are gone.
 */
export function unusable(row: Pick<ImageInfoRow, 'name' | 'access'>): string | undefined {
  if (row.access === 'retired') return `image ${row.name} is retired: bring it back on its page (Images → ${row.name}) to use it again`;
  if (row.access === 'deleted') return `image ${row.name} was deleted: its files are gone`;
  return undefined;
}

/** A private image is seen by its owner and admins only; so is one retired or deleted while private. */
export const maySee = (row: { access: string; owner: string | null; access_before?: string | null }, caller: Caller): boolean =>
  (row.access === 'retired' || row.access === 'deleted' ? row.access_before : row.access) !== 'private' || caller.role === 'admin' || row.owner === caller.name;

/**
 * The image by name, its newest version unless one is asked for; with `caller`, only one that
 * caller may see (another owner's private image is not found, as in the image list).
 */
export async function findImage(db: Q, name: string, version?: number, caller?: Caller): Promise<ImageRow> {
  const info = await imageInfo(db, name);
  if (info && caller && !maySee(info, caller)) throw notFound(`image ${name}`);
  const gone = info && unusable(info);
  if (gone) throw new HttpError(409, gone);
  const q = db('images').where({ name }).whereNull('purged_ms');
  // The newest version an admin let through; a version named outright is taken as it is (to try it before approving it).
  const row = await (version ? q.andWhere({ version }) : q.whereNull('review_since_ms').orderBy('version', 'desc')).first();
  if (!row) {
    const waiting = version ? undefined : await db('images').where({ name }).whereNotNull('review_since_ms').orderBy('version', 'desc').first();
    if (waiting)
      throw new HttpError(
        409,
        `image ${name} v${waiting.version} waits for an admin's review (approve it on the Images page, or POST /api/v1/images/${name}/versions/${waiting.version}/approve; or deploy it by version to try it first)`,
      );
    if (info && !version) throw new HttpError(409, `image ${name} has no published version yet (status ${info.status}): capture it first`);
    throw notFound(`image ${name}${version ? ` v${version}` : ''}`);
  }
  return row;
}

export async function imageById(db: Q, infoHash: string): Promise<ImageRow> {
  const row = await db('images').where({ info_hash: infoHash }).first();
  if (!row) throw notFound(`image ${infoHash}`);
  return row;
}

export async function liveNodesHolding(db: Q, infoHash: string, seenSinceMs: number): Promise<Array<{ name: string; http_url: string; bt_addr: string }>> {
  return db('nodes')
    .join('node_images', 'nodes.name', 'node_images.node')
    .where('node_images.info_hash', infoHash)
    .andWhere('nodes.last_seen_ms', '>=', seenSinceMs)
    .select('nodes.name', 'nodes.http_url', 'nodes.bt_addr');
}

/** How many PCs, in active tasks and not finished, were handed each of these nodes first for unicast. */
export async function unicastLoads(db: Q, nodes: string[]): Promise<Array<{ node: string; n: number }>> {
  const rows = await db('task_hosts')
    .join('tasks', 'tasks.id', 'task_hosts.task_id')
    .where('tasks.state', 'active')
    .whereNotIn('task_hosts.state', ['done', 'failed', 'cancelled'])
    .whereIn('task_hosts.unicast_node', nodes)
    .groupBy('task_hosts.unicast_node')
    .select('task_hosts.unicast_node as node')
    .count({ n: '*' });
  return (rows as Array<{ node: string; n: number }>).map((r) => ({ node: r.node, n: Number(r.n) }));
}

export async function setUnicastNode(db: Q, taskId: number, mac: string, node: string | null): Promise<void> {
  await db('task_hosts').where({ task_id: taskId, mac }).update({ unicast_node: node });
}

/** Every catalog entry by name, or the one named `only` (none if it does not exist). */
export async function imageInfos(db: Q, only?: string): Promise<ImageInfoRow[]> {
  return only ? db('image_info').where({ name: only }) : db('image_info').orderBy('name');
}

export async function insertImageInfo(
  tx: Q,
  row: Pick<ImageInfoRow, 'name' | 'image_type' | 'owner' | 'access' | 'status' | 'tags' | 'created_ms'> & Partial<ImageInfoRow>,
): Promise<void> {
  await tx('image_info').insert(row);
}

/** A capture retried after it failed: its image, failed for want of any version, waits for it again. */
export async function reopenFailedCapture(tx: Q, name: string): Promise<void> {
  await tx('image_info').where({ name, status: 'failed' }).update({ status: 'pending' });
}

export async function updateImageInfo(tx: Q, name: string, change: Partial<ImageInfoRow>): Promise<void> {
  await tx('image_info').where({ name }).update(change);
}

export type ImageVersionRow = Pick<
  ImageRow,
  'name' | 'version' | 'info_hash' | 'size_bytes' | 'min_disk_bytes' | 'created_ms' | 'review_since_ms' | 'raw_bytes' | 'purged_ms'
>;

/** Every version of every image, or of the one named `only` (without manifest and torrent), oldest version first. */
export async function imageVersions(db: Q, only?: string): Promise<ImageVersionRow[]> {
  const q = db('images').select('name', 'version', 'info_hash', 'size_bytes', 'min_disk_bytes', 'created_ms', 'review_since_ms', 'raw_bytes', 'purged_ms');
  return (only ? q.where({ name: only }) : q).orderBy('version');
}

export const imageVersion = (db: Q, name: string, version: number): Promise<ImageRow | undefined> => db('images').where({ name, version }).first();

/** What each infohash is, for naming swarms. */
export async function imageNames(db: Q): Promise<Array<Pick<ImageRow, 'info_hash' | 'name' | 'version'>>> {
  return db('images').select('info_hash', 'name', 'version');
}

/** An admin let a captured version through: deploys pick it from now on. */
export async function approveVersion(tx: Q, infoHash: string): Promise<void> {
  await tx('images').where({ info_hash: infoHash }).update({ review_since_ms: null });
}

/** Which version (infohash) each storage node heard from since `seenSinceMs` holds. */
export async function liveHoldings(db: Q, seenSinceMs: number): Promise<Array<{ info_hash: string; name: string }>> {
  return db('nodes')
    .join('node_images', 'nodes.name', 'node_images.node')
    .where('nodes.last_seen_ms', '>=', seenSinceMs)
    .select<Array<{ info_hash: string; name: string }>>('node_images.info_hash', 'nodes.name');
}

/** Every version each storage node last reported holding, with when the node was last heard from. */
export async function holdings(db: Q): Promise<Array<{ info_hash: string; name: string; last_seen_ms: number }>> {
  return db('nodes')
    .join('node_images', 'nodes.name', 'node_images.node')
    .orderBy('nodes.name')
    .select<Array<{ info_hash: string; name: string; last_seen_ms: number }>>('node_images.info_hash', 'nodes.name', 'nodes.last_seen_ms');
}

/** How many hosts are assigned to each image, by image name. */
export const hostsAssigned = (db: Q): Promise<Map<string, number>> => countsBy(db, 'hosts', 'image_name');

/** Hosts assigned to it and tasks not over that use it: what stops an image's files being deleted. */
export async function imageUses(
  db: Q,
  name: string,
): Promise<{
  hosts: Array<{ mac: string; name: string | null }>;
  tasks: Array<Pick<TaskRow, 'id' | 'kind' | 'state'>>;
  schedules: Array<{ id: number; name: string }>;
}> {
  const hosts = await db('hosts').where({ image_name: name }).orderBy('name').select<Array<{ mac: string; name: string | null }>>('mac', 'name');
  const tasks = await db('tasks')
    .leftJoin('images', 'images.info_hash', 'tasks.info_hash')
    .whereIn('tasks.state', ['active', 'scheduled'])
    .andWhere((w) => {
      w.where('images.name', name).orWhere('tasks.image_name', name);
    })
    .orderBy('tasks.id')
    .select<Array<Pick<TaskRow, 'id' | 'kind' | 'state'>>>('tasks.id', 'tasks.kind', 'tasks.state');
  // A schedule that is on makes a task of the image at its next run: deleting the files under it
  // would have it fail at every run (the night before an exam).
  const schedules = (await db('schedules').where({ enabled: true }).orderBy('id').select('id', 'name', 'task'))
    // Stored as tasks/schedules.ts writes it: { timezone?, task: the task's request }.
    .filter((sch) => (JSON.parse(sch.task) as { task?: { image?: unknown } }).task?.image === name)
    .map((sch) => ({ id: sch.id, name: sch.name }));
  return { hosts, tasks, schedules };
}

/**
 * Deleting an image: a tombstone in the catalog, and every version marked purged, which is what
 * the storage nodes are told at their next report (nodes/node-routes.ts): each removes its copy.
 */
export async function markPurged(tx: Q, row: ImageInfoRow, nowMs: number): Promise<void> {
  await tx('image_info')
    .where({ name: row.name })
    .update({ access: 'deleted', access_before: row.access === 'retired' ? (row.access_before ?? 'public') : row.access, access_ms: nowMs });
  await tx('images').where({ name: row.name }).whereNull('purged_ms').update({ purged_ms: nowMs });
}

/** The versions whose files are to go from every store. */
export const purgedInfoHashes = async (db: Q): Promise<string[]> => (await db('images').whereNotNull('purged_ms').select('info_hash')).map((r) => r.info_hash);

/** A deleted name made again: the tombstone gives way to the new entry (its purged versions stay purged). */
export async function dropTombstone(tx: Q, name: string): Promise<void> {
  await tx('image_info').where({ name, access: 'deleted' }).delete();
}
