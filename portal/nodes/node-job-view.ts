/** A node job as the admin's routes show it and as its node is handed it (node-job-routes.ts). */
import type { NodeJob, NodeJobOffer } from '../../shared/http/node-jobs.js';
import type { NodeJobRow } from '../db/tables.js';

const iso = (ms: number | null): string | null => (ms === null || ms === undefined ? null : new Date(Number(ms)).toISOString());

/** The job's own part, as the node is handed it. */
const jobParams = (row: Pick<NodeJobRow, 'params'>): NodeJobOffer['job'] => JSON.parse(row.params) as NodeJobOffer['job'];

/** What the job works on, in words, without the pull's key. */
export function what(job: NodeJobOffer['job']): string {
  if (job.kind === 'import') return `${job.format} folder ${job.dir}${job.type ? ` as ${job.type}` : ''}`;
  return `${job.source.image} ${job.source.version ? `v${job.source.version}` : '(newest)'} from ${job.source.url}`;
}

export function describeNodeJob(row: NodeJobRow): NodeJob {
  return {
    id: row.id,
    kind: row.kind,
    state: row.state,
    node: row.node,
    image: row.image_name,
    version: Number(row.image_version),
    what: what(jobParams(row)),
    doneBytes: Number(row.done_bytes),
    totalBytes: Number(row.total_bytes),
    error: row.error,
    infoHash: row.info_hash,
    createdBy: row.created_by,
    createdAt: iso(row.created_ms)!,
    startedAt: iso(row.started_ms),
    finishedAt: iso(row.finished_ms),
  };
}

/** What a node is handed of a queued job. */
export const offerOf = (row: NodeJobRow): NodeJobOffer => ({ id: row.id, image: row.image_name, version: Number(row.image_version), job: jobParams(row) });
