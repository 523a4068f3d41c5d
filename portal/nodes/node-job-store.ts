/**
 * Every query on node jobs (node_jobs): made, handed to their node, reported on, cancelled. A job's
 * version is assigned when it is made (images/image-versions.ts).
 */
import type { Knex } from 'knex';
import { insertedId, type Db } from '../db/open.js';
import type { NodeJobRow } from '../db/tables.js';

type Q = Db | Knex.Transaction;

export const OPEN_JOB_STATES = ['queued', 'running'] as const;

export async function insertNodeJob(tx: Q, row: Omit<NodeJobRow, 'id'>): Promise<number> {
  return insertedId((await tx('node_jobs').insert(row).returning('id'))[0]);
}

export const nodeJob = (db: Q, id: number): Promise<NodeJobRow | undefined> => db('node_jobs').where({ id }).first();

/** The newest jobs first, of one image or all. */
export async function nodeJobs(db: Q, o: { image?: string; limit: number }): Promise<NodeJobRow[]> {
  const q = db('node_jobs').orderBy('id', 'desc').limit(o.limit);
  return o.image ? q.where({ image_name: o.image }) : q;
}

/** The jobs a node is to start: queued ones (named again each report until it says it runs them). */
export const queuedJobsOf = (db: Q, node: string): Promise<NodeJobRow[]> => db('node_jobs').where({ node, state: 'queued' }).orderBy('id');

/**
 * Jobs the portal thinks `node` runs that the node no longer names, and that sent no report for
 * `quietMs`: the node restarted under them. They failed; nothing of them was published.
 */
export async function failLostJobs(tx: Q, node: string, running: number[], quietMs: number, nowMs: number): Promise<number[]> {
  const lost = await tx('node_jobs')
    .where({ node, state: 'running' })
    .whereNotIn('id', running)
    .where('updated_ms', '<', nowMs - quietMs)
    .select('id');
  const ids = lost.map((r) => r.id);
  if (ids.length)
    await tx('node_jobs')
      .whereIn('id', ids)
      .where({ state: 'running' })
      .update({ state: 'failed', error: `storage node ${node} no longer runs this job (it restarted?): nothing was published`, finished_ms: nowMs });
  return ids;
}

export async function updateNodeJob(tx: Q, id: number, change: Partial<NodeJobRow>): Promise<void> {
  await tx('node_jobs').where({ id }).update(change);
}
