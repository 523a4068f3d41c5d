/**
 * Node jobs (shared/http/node-jobs.ts): an admin asks for a new version of an image made on a
 * storage node — an import of a FOG or Clonezilla folder on it, or a pull from another Shoal site —
 * the portal records the job with the version it assigns, hands it to the node in its heartbeat
 * reply, takes its progress, and on the node's "done" checks that the version it published is the
 * one the node's report registered (node-routes.ts learnImage), as every published image is.
 */
import { z } from 'zod';
import { API } from '../../shared/http/api.js';
import {
  CreateNodeJobSchema,
  NodeJobListSchema,
  NodeJobReplySchema,
  NodeJobReportSchema,
  NodeJobSchema,
  type NodeJobOffer,
} from '../../shared/http/node-jobs.js';
import { assertImageName } from '../../shared/image/image-name.js';
import { HttpError, notFound } from '../../shared/http/errors.js';
import { ShoalError } from '../../shared/errors.js';
import { requireNode } from '../access/auth.js';
import type { ApiRouter } from '../http/api-router.js';
import { audit } from '../db/audit.js';
import type { NodeJobRow } from '../db/tables.js';
import type { PortalDeps } from '../deps.js';
import { findImageByHash, imageInfo } from '../images/image-store.js';
import { liveNodes, nodeByName } from './node-store.js';
import { learnImage } from './node-routes.js';
import { insertNodeJob, nodeJob, nodeJobs, OPEN_JOB_STATES, updateNodeJob } from './node-job-store.js';
import { nextImageVersion } from '../images/image-versions.js';
import { describeNodeJob, what } from './node-job-view.js';

const JobsQuery = z.object({
  image: z.string().max(128).optional(),
  limit: z.coerce.number().int().positive().max(1000).default(100),
});

export function nodeJobRoutes(api: ApiRouter, deps: PortalDeps): void {
  const { db } = deps;

  api.add(
    {
      method: 'post',
      path: `${API}/node-jobs`,
      summary: 'Make a new image version on a storage node: import a FOG or Clonezilla folder there, or pull one from another Shoal site',
      tag: 'storage',
      access: 'admin',
      body: CreateNodeJobSchema,
      status: 201,
      response: NodeJobSchema,
    },
    async (_ctx, { body, caller }) => {
      try {
        assertImageName(body.image);
      } catch (err) {
        throw new HttpError(400, (err as ShoalError).message, 'image');
      }
      const id = await db.transaction(async (tx) => {
        const info = await imageInfo(tx, body.image);
        if (info?.access === 'deleted') throw new HttpError(409, `image ${body.image} is deleted: use another name`, 'image');
        if (info?.access === 'retired') throw new HttpError(409, `image ${body.image} is retired: bring it back on its page first`, 'image');
        const live = await liveNodes(tx, Date.now() - deps.config.nodeTimeoutMs);
        let node: string;
        if (body.node) {
          if (!(await nodeByName(tx, body.node))) throw new HttpError(400, `unknown storage node ${body.node}`, 'node');
          node = body.node;
        } else if (body.kind === 'import') {
          // The folder is on one node: which, the admin says, unless there is only one.
          if (!live.length) throw new HttpError(409, 'no storage node is up to import the folder', 'node');
          if (live.length !== 1) throw new HttpError(400, 'name the storage node the folder is on', 'node');
          node = live[0]!.name;
        } else {
          const roomiest = [...live].sort((a, b) => Number(b.free_bytes ?? 0) - Number(a.free_bytes ?? 0))[0];
          if (!roomiest) throw new HttpError(409, 'no storage node is up to pull the image', 'node');
          node = roomiest.name;
        }
        const job: NodeJobOffer['job'] =
          body.kind === 'import'
            ? { kind: 'import', format: body.format, dir: body.dir, ...(body.type && { type: body.type }) }
            : { kind: 'pull', source: body.source };
        const version = await nextImageVersion(tx, body.image);
        const now = Date.now();
        const jobId = await insertNodeJob(tx, {
          kind: body.kind,
          node,
          image_name: body.image,
          image_version: version,
          state: 'queued',
          params: JSON.stringify(job),
          done_bytes: 0,
          total_bytes: 0,
          error: null,
          info_hash: null,
          created_by: caller.name,
          created_ms: now,
          started_ms: null,
          updated_ms: now,
          finished_ms: null,
        });
        await audit(tx, caller.name, `node-job.${body.kind}`, body.image, { job: jobId, version, node, what: what(job) });
        return jobId;
      });
      return describeNodeJob((await nodeJob(db, id))!);
    },
  );

  api.add(
    {
      method: 'get',
      path: `${API}/node-jobs`,
      summary: 'Imports and pulls on storage nodes, newest first (of one image with ?image=)',
      tag: 'storage',
      access: 'read',
      query: JobsQuery,
      response: NodeJobListSchema,
    },
    async (_ctx, { query }) => ({ jobs: (await nodeJobs(db, query)).map(describeNodeJob) }),
  );

  api.add(
    { method: 'get', path: `${API}/node-jobs/:id`, summary: 'One import or pull, with its progress', tag: 'storage', access: 'read', response: NodeJobSchema },
    async (_ctx, { params }) => {
      const row = await nodeJob(db, Number(params.id));
      if (!row) throw notFound(`node job ${params.id}`);
      return describeNodeJob(row);
    },
  );

  api.add(
    {
      method: 'post',
      path: `${API}/node-jobs/:id/cancel`,
      summary: 'Cancel an import or pull: the node stops it at its next report and publishes nothing',
      tag: 'storage',
      access: 'admin',
      response: NodeJobSchema,
    },
    async (_ctx, { params, caller }) => {
      await db.transaction(async (tx) => {
        const row = await nodeJob(tx, Number(params.id));
        if (!row) throw notFound(`node job ${params.id}`);
        if (!(OPEN_JOB_STATES as readonly string[]).includes(row.state)) throw new HttpError(409, `node job ${row.id} is ${row.state} already`);
        await updateNodeJob(tx, row.id, { state: 'cancelled', finished_ms: Date.now(), updated_ms: Date.now() });
        await audit(tx, caller.name, 'node-job.cancel', row.image_name, { job: row.id, version: Number(row.image_version), was: row.state });
      });
      return describeNodeJob((await nodeJob(db, Number(params.id)))!);
    },
  );

  // The node's reports: progress about once a second, then done or failed.
  api.add(
    {
      method: 'post',
      path: `${API}/nodes/:name/jobs/:id`,
      summary: "A storage node reports a job's progress or end",
      tag: 'storage',
      access: 'node',
      body: NodeJobReportSchema,
      response: NodeJobReplySchema,
    },
    async (ctx, { params, body }) => {
      requireNode(ctx, deps.config.secret, params.name!);
      const row = await nodeJob(db, Number(params.id));
      if (!row || row.node !== params.name) throw notFound(`node job ${params.id} of ${params.name}`);
      // Cancelled (or over already): the node stops; what it says now changes nothing.
      if (!(OPEN_JOB_STATES as readonly string[]).includes(row.state)) return { cancel: true };
      const now = Date.now();
      const progress = { done_bytes: Math.round(body.doneBytes), total_bytes: Math.round(body.totalBytes), updated_ms: now };
      if (body.state === 'running') {
        // The version it is about to make is one the catalog holds already (the same image pulled
        // twice): two names for one infohash cannot both be registered, so the job stops here.
        const held = body.infoHash ? await findImageByHash(db, body.infoHash) : undefined;
        if (held && (held.name !== row.image_name || Number(held.version) !== Number(row.image_version))) {
          const reason = `this site holds that version already, as ${held.name} v${held.version} (${held.info_hash}): nothing to pull`;
          await db.transaction(async (tx) => {
            await updateNodeJob(tx, row.id, { ...progress, state: 'failed', error: reason, started_ms: row.started_ms ?? now, finished_ms: now });
            await audit(tx, `node:${row.node}`, 'node-job.fail', row.image_name, { job: row.id, version: Number(row.image_version), error: reason });
          });
          return { cancel: true, reason };
        }
        await updateNodeJob(db, row.id, { ...progress, state: 'running', started_ms: row.started_ms ?? now });
        return { cancel: false };
      }
      let error = body.state === 'failed' ? (body.error ?? 'failed (the node said no more)') : null;
      if (body.state === 'done') error = await registered(deps, row, body.infoHash);
      await db.transaction(async (tx) => {
        await updateNodeJob(tx, row.id, {
          ...progress,
          state: error ? 'failed' : 'done',
          error,
          info_hash: error ? null : body.infoHash!,
          started_ms: row.started_ms ?? now,
          finished_ms: now,
        });
        await audit(tx, `node:${row.node}`, error ? 'node-job.fail' : 'node-job.done', row.image_name, {
          job: row.id,
          version: Number(row.image_version),
          ...(error ? { error } : { infoHash: body.infoHash }),
        });
      });
      return { cancel: false };
    },
  );
}

/**
 * Whether the version the node says it published is registered as the job's: the node's report
 * after publishing has normally done it; if that report has not come yet, the portal reads the
 * version from the node now. Undefined when it is; why not, otherwise.
 */
async function registered(deps: PortalDeps, row: NodeJobRow, infoHash: string | undefined): Promise<string | null> {
  if (!infoHash) return 'the node said done without naming the version it published';
  const want = `${row.image_name} v${row.image_version}`;
  let image = await findImageByHash(deps.db, infoHash);
  if (!image) {
    const node = await nodeByName(deps.db, row.node);
    if (node) await learnImage(deps, { name: node.name, httpUrl: node.http_url }, { name: row.image_name, version: Number(row.image_version), infoHash });
    image = await findImageByHash(deps.db, infoHash);
  }
  if (!image) return `${want} (${infoHash}) was published on ${row.node} but the portal could not register it (see the portal's log)`;
  if (image.name !== row.image_name || Number(image.version) !== Number(row.image_version))
    return `the node published ${infoHash}, which the portal holds as ${image.name} v${image.version}, not ${want}`;
  return null;
}
