/**
 * Every query of the storage nodes' feature: the nodes and what they hold (node_images), the
 * images they publish by reporting them, storage groups, and the multicast tasks a node streams.
 */
import type { Knex } from 'knex';
import type { Db } from '../db/open.js';
import type { ImageRow, NodeRow, StorageGroupRow, TaskRow } from '../db/tables.js';
import type { ImageType } from '../../shared/image/manifest.js';
import { countsBy } from '../db/counts.js';

type Q = Db | Knex.Transaction;

/** The nodes heard from since `seenSinceMs`, by name. */
export const liveNodes = (db: Q, seenSinceMs: number): Promise<NodeRow[]> => db('nodes').where('last_seen_ms', '>=', seenSinceMs).orderBy('name');

export const nodeByName = (db: Q, name: string): Promise<NodeRow | undefined> => db('nodes').where({ name }).first();

/** The nodes by name, or the one named `only` (none if it does not exist). */
export async function nodesNamed(db: Q, only?: string): Promise<NodeRow[]> {
  return only ? db('nodes').where({ name: only }) : db('nodes').orderBy('name');
}

/** A node reports in: recorded, or its addresses, space and limit brought up to date (its storage group stays). */
export async function recordHeartbeat(db: Q, row: Omit<NodeRow, 'storage_group'>): Promise<void> {
  await db('nodes').insert(row).onConflict('name').merge(['http_url', 'bt_addr', 'last_seen_ms', 'capacity_bytes', 'free_bytes', 'upload_limit']);
}

/** What a node holds now: its earlier list replaced. */
export async function setNodeImages(tx: Q, node: string, infoHashes: string[]): Promise<void> {
  await tx('node_images').where({ node }).delete();
  if (infoHashes.length) await tx('node_images').insert(infoHashes.map((h) => ({ node, info_hash: h })));
}

export type HeldImage = { node: string } & Pick<ImageRow, 'name' | 'version' | 'info_hash'>;

/** Every version every node holds. */
export async function heldImages(db: Q): Promise<HeldImage[]> {
  return db('node_images')
    .join('images', 'images.info_hash', 'node_images.info_hash')
    .select<HeldImage[]>('node_images.node', 'images.name', 'images.version', 'images.info_hash');
}

export async function setNodeGroup(tx: Q, name: string, group: string | null): Promise<void> {
  await tx('nodes').where({ name }).update({ storage_group: group });
}

/** The infohashes of every version the portal has recorded. */
export const knownInfoHashes = async (db: Q): Promise<string[]> => (await db('images').select('info_hash')).map((r) => r.info_hash);

/** The names of the deleted images (tombstones): a version of one the portal never saw is not published. */
export const deletedImageNames = async (db: Q): Promise<string[]> => (await db('image_info').where({ access: 'deleted' }).select('name')).map((r) => r.name);

/** The versions in use (not retired, not deleted) that are not among `held`: what a replicating node fetches. */
export async function imagesLacking(db: Q, held: string[]): Promise<Array<Pick<ImageRow, 'name' | 'version' | 'info_hash'>>> {
  return db('images')
    .join('image_info', 'image_info.name', 'images.name')
    .whereNotIn('image_info.access', ['retired', 'deleted'])
    .whereNull('images.purged_ms')
    .whereNotIn('images.info_hash', held)
    .select<Array<Pick<ImageRow, 'name' | 'version' | 'info_hash'>>>('images.name', 'images.version', 'images.info_hash');
}

/**
 * The infohashes of the versions whose files were not deleted: what the trackers admit. A retired
 * image's stay: a task already under way with it goes on.
 */
export async function publishedInfoHashes(db: Q): Promise<string[]> {
  const rows = await db('images')
    .join('image_info', 'image_info.name', 'images.name')
    .whereNot('image_info.access', 'deleted')
    .whereNull('images.purged_ms')
    .select<Array<Pick<ImageRow, 'info_hash'>>>('images.info_hash');
  return rows.map((r) => r.info_hash);
}

/** The capture task that made this version, if a PC captured it. */
export const captureOf = (db: Q, name: string, version: number): Promise<TaskRow | undefined> =>
  db('tasks').where({ kind: 'capture', image_name: name, image_version: version }).first();

/**
 * A version a node reported, checked, is recorded: a name the catalog lacks enters it, a pending
 * or failed entry is now ok, and a version already recorded stays as it was.
 */
export async function recordImage(tx: Q, image: ImageRow, imageType: ImageType): Promise<void> {
  await tx('image_info')
    .insert({ name: image.name, image_type: imageType, access: 'public', status: 'ok', tags: '[]', created_ms: Date.now() })
    .onConflict('name')
    .ignore();
  await tx('image_info').where({ name: image.name }).update({ status: 'ok' });
  await tx('images').insert(image).onConflict('info_hash').ignore();
}

export const storageGroup = (db: Q, name: string): Promise<StorageGroupRow | undefined> => db('storage_groups').where({ name }).first();

export const storageGroups = (db: Q): Promise<StorageGroupRow[]> => db('storage_groups').orderBy('name');

export async function insertStorageGroup(tx: Q, row: StorageGroupRow): Promise<void> {
  await tx('storage_groups').insert(row);
}

/** How many nodes each storage group has, by group name. */
export const nodesPerStorageGroup = (db: Q): Promise<Map<string, number>> => countsBy(db, 'nodes', 'storage_group');

export type MulticastTask = Pick<TaskRow, 'id' | 'min_receivers' | 'max_wait_seconds'> & Pick<ImageRow, 'name' | 'version' | 'info_hash'>;

/** The active multicast tasks with their images. */
export async function activeMulticastTasks(db: Q): Promise<MulticastTask[]> {
  return db('tasks')
    .join('images', 'images.info_hash', 'tasks.info_hash')
    .where('tasks.kind', 'multicast')
    .where('tasks.state', 'active')
    .select<MulticastTask[]>('tasks.id', 'tasks.min_receivers', 'tasks.max_wait_seconds', 'images.name', 'images.version', 'images.info_hash');
}

/**
 * How many of a task's hosts may still take its stream: a PC cancelled alone or failed before the
 * session starts is not waited for (udp-sender would wait out the whole maxWaitSeconds for it).
 */
export const taskHostCount = async (db: Q, taskId: number): Promise<number> =>
  Number((await db('task_hosts').where({ task_id: taskId }).whereNotIn('state', ['cancelled', 'failed']).count({ n: '*' }).first())?.n ?? 0);
