/**
 * What PCs say to the portal about their task: they ask for it (GET /hosts/MAC/task) and report
 * progress, completion or failure (POST …/progress), and learn when they may start and when the
 * whole group holds the image so they stop seeding. Each host of a task has its own key and state:
 *   queued → booting (it asked for its task) → [waiting] → running → seeding → done, or failed, or
 *   cancelled; waiting only in a deploy that starts together (start-together.ts).
 */
import type { Context } from 'koa';
import { API, ProgressSchema, isHostname, type HostTask, type TaskHostState } from '../../shared/http/api.js';
import { holderOfMac, issueSwarmKey, uploadKeyScope } from '../../shared/keys/swarm-key.js';
import { HttpError } from '../../shared/http/errors.js';
import { logger } from '../../shared/log.js';
import { roomParts, sharesByRoom } from '../../shared/swarm/room-shares.js';
import { subnetOf } from '../../shared/lan-address.js';
import type { ApiRouter } from '../http/api-router.js';
import { HostTaskSchema, ProgressReplySchema } from '../../shared/http/portal-contract.js';
import { checkBootKey, requireHostKey } from '../access/host-keys.js';
import { makeTicket } from '../images/tickets.js';
import { imageById, imageInfo } from '../images/image-store.js';
import { normalMac } from '../hosts/host-rules.js';
import { findHost, hostSeen } from '../hosts/host-store.js';
import { DEFAULT_MULTICAST_WAIT_SECONDS, multicastPortbase } from '../nodes/multicast.js';
import { nodeByName } from '../nodes/node-store.js';
import { expectedProof } from './proof.js';
import { DEFAULT_START_WAIT_SECONDS, holdsStart, mayStart } from './start-together.js';
import { activateDueTasks } from './task-start.js';
import type { TaskDeps } from './task-deps.js';
import { taskHostView } from './task-host-view.js';
import {
  FINAL,
  WIPED_FAILURE,
  activeTaskOfHost,
  addHostLog,
  closeIfAllFinal,
  findTask,
  groupDone,
  markFailedCapture,
  taskHost,
  taskHostNamed,
  taskMembers,
  updateTaskHost,
  wipedFailuresSinceRetry,
} from './task-store.js';

const log = logger('tasks');

const KEY_RENEW_BEFORE_MS = 3_600_000;
const STATE_ORDER: readonly TaskHostState[] = ['queued', 'booting', 'waiting', 'running', 'seeding', 'done'];
/** How often a PC left without a partition table deploys again before its failure stands. */
export const DEPLOY_ATTEMPTS = 3;

/** A PC asked for its task: the host row, its task, and the host marked booting. */
async function hostTask(deps: TaskDeps, ctx: Context, mac: string): Promise<HostTask> {
  const { db, config } = deps;
  await activateDueTasks(deps);
  await hostSeen(db, mac, ctx.ip);
  const row = await activeTaskOfHost(db, mac);
  await checkBootKey(db, ctx, mac, row);
  if (!row) return { kind: 'none' };
  await claimTaskKey(deps, row.task_id, mac, ctx.ip);
  // A PC that boots long after the task was made gets its key renewed rather than refused.
  if (row.key_expires_ms < Date.now() + KEY_RENEW_BEFORE_MS) {
    const expiresMs = Date.now() + config.keyLifetimeMs;
    const scope = row.kind === 'capture' ? uploadKeyScope(row.image_name!, row.image_version!) : row.info_hash!;
    row.key = issueSwarmKey(config.secret, scope, holderOfMac(mac), expiresMs);
    row.key_expires_ms = expiresMs;
    await updateTaskHost(db, row.task_id, mac, { key: row.key, key_expires_ms: expiresMs });
    deps.reports.forget(row.task_id, mac);
  }
  if (row.state === 'queued') await markBooting(deps, row.task_id, mac, 'asked for its task');
  if (row.kind === 'capture') {
    const node = row.node ? await nodeByName(db, row.node) : undefined;
    if (!node) throw new HttpError(409, `storage node ${row.node} of capture task ${row.task_id} is unknown`);
    const resume = row.progress ? (JSON.parse(row.progress) as { uploadId?: string }).uploadId : undefined;
    return {
      kind: 'capture',
      taskId: row.task_id,
      key: row.key,
      image: row.image_name!,
      version: row.image_version!,
      type: row.image_type as Extract<HostTask, { kind: 'capture' }>['type'],
      nodeUrl: node.http_url,
      ...(resume && { resume }),
    };
  }
  const image = await imageById(db, row.info_hash!);
  const group = await taskMembers(db, row.task_id);
  const host = await findHost(db, mac);
  const info = await imageInfo(db, image.name);
  // A name that predates the host-name rule is not handed out: it would land in the PC's files as it is.
  const identity = host?.name && isHostname(host.name) && (info ? Boolean(info.set_identity) : true) ? { hostname: host.name } : undefined;
  return {
    kind: 'deploy',
    taskId: row.task_id,
    key: row.key,
    lingerSeconds: row.linger_seconds,
    transport: row.kind === 'multicast' ? 'multicast' : 'swarm',
    ...(row.kind === 'multicast' && {
      multicast: { portbase: multicastPortbase(row.task_id), maxWaitSeconds: row.max_wait_seconds ?? DEFAULT_MULTICAST_WAIT_SECONDS },
    }),
    share: shareOf(group, mac),
    ...(holdsStart({ ...row, id: row.task_id }) && {
      startTogether: { minReceivers: row.min_receivers!, maxWaitSeconds: row.max_wait_seconds ?? DEFAULT_START_WAIT_SECONDS },
    }),
    ticket: await makeTicket(deps, image, row.key, row.key_expires_ms, { assign: { taskId: row.task_id, mac } }),
    ...(identity && { identity }),
  };
}

/** Tells the dashboards watching that this host of the task changed. */
async function hostChanged(deps: TaskDeps, taskId: number, mac: string): Promise<void> {
  const h = await taskHostNamed(deps.db, taskId, mac);
  if (h) deps.live.changed(taskId, taskHostView(h));
}

/**
 * A PC has no secret of its own: whoever asks first with its MAC gets its task key. The key goes
 * to one address: the first to ask, and that address again (the PC rebooted half-way). Another
 * address asking while the host's part is not over is refused, and the conflict shows on the
 * dashboard in the host's row and log, so an impersonation is seen rather than silent. A PC whose
 * address changed is retried by the admin, which hands out a fresh key.
 */
export async function claimTaskKey(deps: TaskDeps, taskId: number, mac: string, ip: string): Promise<void> {
  if (await updateTaskHost(deps.db, taskId, mac, { key_ip: ip }, { key_ip: null })) {
    deps.reports.forget(taskId, mac);
    return;
  }
  const row = await taskHost(deps.db, taskId, mac);
  if (!row || row.key_ip === ip) return;
  const conflict = `conflict: ${ip} asked for this PC's task key, which went to ${row.key_ip}; refused (retry the host if the PC's address changed)`;
  await updateTaskHost(deps.db, taskId, mac, { error: conflict, updated_ms: Date.now() });
  await addHostLog(deps.db, taskId, mac, conflict);
  log.warn({ taskId, mac, ip, keyIp: row.key_ip }, 'task key asked for from a second address');
  await hostChanged(deps, taskId, mac);
  throw new HttpError(
    409,
    `host ${mac}: its task key went to another address (${row.key_ip}); ${ip} is refused. If the PC's address changed, an admin retries it in the portal`,
  );
}

export async function markBooting(deps: TaskDeps, taskId: number, mac: string, why: string): Promise<void> {
  if (!(await updateTaskHost(deps.db, taskId, mac, { state: 'booting', updated_ms: Date.now() }, { state: 'queued' }))) return;
  deps.reports.forget(taskId, mac);
  await addHostLog(deps.db, taskId, mac, `booting: ${why}`);
  await hostChanged(deps, taskId, mac);
  deps.live.taskChanged(taskId);
}

export function pcTaskRoutes(api: ApiRouter, deps: TaskDeps): void {
  const { db } = deps;

  api.add(
    {
      method: 'get',
      path: `${API}/hosts/:mac/task`,
      summary: "A PC's pending task: none, deploy (ticket, key, share) or capture",
      tag: 'clients',
      access: 'public',
      response: HostTaskSchema,
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
      response: ProgressReplySchema,
    },
    async (ctx, { params, body: progress }) => {
      const taskId = Number(params.id);
      const mac = normalMac(params.mac!);
      const host = await deps.reports.host(taskId, mac);
      requireHostKey(ctx, host, mac, taskId);
      // The key works from the address it went to (a key read off a PC's TFTP files or screen does not report for it).
      if (host!.keyIp !== ctx.ip && !FINAL.includes(host!.state)) await claimTaskKey(deps, taskId, mac, ctx.ip);
      if (FINAL.includes(host!.state)) {
        if (host!.state === 'cancelled') return { groupDone: true, start: false, cancelled: true };
        throw new HttpError(409, `host ${mac} already reported ${host!.state} for task ${taskId}`);
      }
      // A host's states go one way (queued, booting, waiting, running, seeding, done); failed may come at any time.
      if (progress.state !== 'failed' && STATE_ORDER.indexOf(progress.state) < STATE_ORDER.indexOf(host!.state)) {
        throw new HttpError(409, `host ${mac} is ${host!.state} in task ${taskId}: it cannot go back to ${progress.state}`);
      }
      // "I hold the image" is believed once proven (portal/tasks/proof.ts): a challenge first, then its answer.
      if ((progress.state === 'seeding' || progress.state === 'done') && !host!.proven) {
        const task = await findTask(db, taskId);
        if (task && task.kind !== 'capture') {
          const image = await imageById(db, task.info_hash!);
          if (!progress.proof) return { groupDone: false, start: true, challenge: deps.proofs.issue(taskId, mac, image) };
          const open = deps.proofs.take(taskId, mac, progress.proof.nonce);
          if (!open) throw new HttpError(409, `host ${mac}: no open challenge with this nonce (report without a proof for a new one)`);
          if ((await expectedProof(deps, image, open)) !== progress.proof.digest) {
            const why = `its proof over pieces ${open.pieces.join(', ')} does not match the image: it does not hold ${image.name} v${image.version}`;
            await updateTaskHost(db, taskId, mac, { state: 'failed', error: why, updated_ms: Date.now() });
            deps.reports.stateWritten(taskId, mac, 'failed');
            await addHostLog(db, taskId, mac, `failed: ${why}`);
            deps.live.taskChanged(taskId);
            await closeIfOver(deps, taskId);
            throw new HttpError(409, `host ${mac}: ${why}`);
          }
          await updateTaskHost(db, taskId, mac, { proven_ms: Date.now() });
          deps.reports.forget(taskId, mac);
          await addHostLog(db, taskId, mac, `proved it holds the image (pieces ${open.pieces.join(', ')})`);
        }
      }
      const now = Date.now();
      const error = progress.state === 'failed' ? (progress.error ?? 'failed without a reason') : null;
      const json = JSON.stringify(progress);
      const again = progress.state === 'failed' && progress.tableWiped ? await deploysAgain(deps, taskId, mac, error!) : undefined;
      const state: TaskHostState = again ? 'queued' : progress.state;
      // The dashboard shows a PC waiting to deploy again with why, in the error's place.
      const shown = again ?? error;
      deps.live.changed(taskId, taskHostView({ mac, name: host!.name, state, progress: json, error: shown, updated_ms: now }));
      if (state === host!.state) deps.reports.buffer(taskId, mac, json, now);
      else {
        // Only over the state this report was checked against: an admin's cancel of this PC that
        // committed meanwhile (the proof check above awaits) must not be undone by the report.
        const written = await updateTaskHost(
          db,
          taskId,
          mac,
          { state, progress: json, error: shown, updated_ms: now, ...(again && { key_ip: null, proven_ms: null }) },
          { state: host!.state },
        );
        if (!written) {
          deps.reports.forget(taskId, mac);
          const current = (await taskHost(db, taskId, mac))?.state;
          if (current === 'cancelled') return { groupDone: true, start: false, cancelled: true };
          throw new HttpError(409, `host ${mac} changed to ${current ?? 'gone'} in task ${taskId} meanwhile: report again`);
        }
        deps.reports.stateWritten(taskId, mac, state);
        if (again) deps.reports.forget(taskId, mac);
        const failure = progress.tableWiped
          ? `${WIPED_FAILURE}, for the last time: ${error}; the PC boots nothing until it is deployed again`
          : `failed: ${error}`;
        await addHostLog(db, taskId, mac, again ?? (error ? failure : progress.state));
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

/**
 * A deploy that failed after wiping the disk's table leaves a PC that boots nothing: its task
 * stays, so that its next network boot deploys again (and resumes from what is on its disk), up to
 * DEPLOY_ATTEMPTS times. Returns the log line saying so, or undefined when the failure stands.
 */
async function deploysAgain(deps: TaskDeps, taskId: number, mac: string, error: string): Promise<string | undefined> {
  const task = await findTask(deps.db, taskId);
  if (!task || task.kind === 'capture' || task.state !== 'active') return undefined;
  const before = await wipedFailuresSinceRetry(deps.db, taskId, mac);
  if (before + 1 >= DEPLOY_ATTEMPTS) return undefined;
  return `${WIPED_FAILURE} (attempt ${before + 1} of ${DEPLOY_ATTEMPTS}): ${error}; it deploys again at its next network boot`;
}

/** The last host of a task finished: the task is done. */
async function closeIfOver(deps: TaskDeps, taskId: number): Promise<void> {
  if (await closeIfAllFinal(deps.db, taskId)) {
    const task = await findTask(deps.db, taskId);
    if (task) await markFailedCapture(deps.db, task);
    deps.reports.forgetTask(taskId);
    deps.live.taskChanged(taskId);
  }
}

/**
 * PC `mac`'s share: its place in the group dealt round the rooms (/24s) its members last
 * registered from, and its part of its own room (shared/swarm/room-shares.ts). Only when every
 * member's address is known: a PC asking before another has ever registered must get the share the
 * others get, so until then the MAC order stands and no PC has a room part. A PC that registers from
 * elsewhere moves only where the shares fall, not what anyone receives: every piece is still
 * checked against the torrent.
 */
type HostTaskShare = Extract<HostTask, { kind: 'deploy' }>['share'];

function shareOf(group: Array<{ mac: string; ip: string | null }>, mac: string): HostTaskShare {
  const k = group.findIndex((m) => m.mac === mac);
  if (k < 0 || group.some((m) => !m.ip)) return { index: k, count: group.length };
  const rooms = group.map((m) => subnetOf(m.ip!));
  return { index: sharesByRoom(rooms)[k]!, count: group.length, room: roomParts(rooms)[k]! };
}
