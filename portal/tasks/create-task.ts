/**
 * Making a task: its hosts (named MACs, registered if new, or a group's approved members), none of
 * them busy in another task; a key per host; for a capture, the storage node that receives it and
 * the version it becomes, picked here so that two captures never publish one version twice.
 */
import type { Knex } from 'knex';
import type { z } from 'zod';
import type { CreateTaskSchema } from '../../shared/http/api.js';
import { holderOfMac, issueSwarmKey, uploadKeyScope } from '../../shared/keys/swarm-key.js';
import { assertImageName } from '../../shared/image/image-name.js';
import { HttpError, notFound } from '../../shared/http/errors.js';
import { audit } from '../db/audit.js';
import type { Caller } from '../access/auth.js';
import { issueKey } from '../images/tickets.js';
import { findImage, imageInfo, insertImageInfo, maySee } from '../images/image-store.js';
import { approvePending, findGroup, groupMembers, hostsExist } from '../hosts/host-store.js';
import { liveNodes } from '../nodes/node-store.js';
import { normalMac } from '../hosts/host-rules.js';
import type { TaskDeps } from './task-deps.js';
import { busyHosts, insertTask, insertTaskHosts } from './task-store.js';
import { nextImageVersion } from '../images/image-versions.js';
import { takeAssignLock } from '../db/assign-lock.js';
import type { TaskState } from '../../shared/http/portal-contract.js';

export type CreateTask = z.infer<typeof CreateTaskSchema>;

/** A start time this little in the past is "now" typed slowly (or a clock a little behind). */
const PAST_START_GRACE_MS = 5 * 60_000;

/** The hosts a task is for: its MACs (registered now if new) or the members of its group. */
async function taskHosts(tx: Knex.Transaction, req: CreateTask): Promise<string[]> {
  if (req.group) {
    if (!(await findGroup(tx, req.group))) throw new HttpError(400, `unknown group ${req.group}`);
    // A host waiting for approval is not a member yet, whatever group it asked for.
    const macs = await groupMembers(tx, req.group);
    if (!macs.length) throw new HttpError(409, `group ${req.group} has no hosts (approved ones)`);
    return macs;
  }
  const macs = [...new Set(req.hosts!.map(normalMac))];
  await hostsExist(tx, macs);
  // An admin naming a MAC in a task vouches for it.
  await approvePending(tx, macs);
  return macs;
}

/** Refuses hosts in a task that is not over; the caller adds them to its task in the same transaction. */
export async function refuseBusy(tx: Knex.Transaction, macs: string[]): Promise<void> {
  await takeAssignLock(tx);
  const busy = await busyHosts(tx, macs);
  if (busy.length)
    throw new HttpError(
      409,
      `already in a task that is not over: ${busy
        .slice(0, 10)
        .map((b) => `${b.mac} (task ${b.id})`)
        .join(', ')}${busy.length > 10 ? ` and ${busy.length - 10} more` : ''}`,
    );
}

export async function createTask(deps: TaskDeps, req: CreateTask, caller: Caller, scheduleId?: number): Promise<number> {
  const { db, config } = deps;
  const scheduledMs = req.scheduledAt ? Date.parse(req.scheduledAt) : null;
  // A start time already gone is a typo (a year, a day) far more often than a wish to start now.
  if (scheduledMs !== null && scheduledMs < Date.now() - PAST_START_GRACE_MS)
    throw new HttpError(400, `scheduledAt ${req.scheduledAt} is in the past: give a time to come, or leave it out to start now`, 'scheduledAt');
  const state: TaskState = scheduledMs && scheduledMs > Date.now() ? 'scheduled' : 'active';
  const image = req.kind === 'capture' ? undefined : await findImage(db, req.image, req.version, caller);
  const named = req.kind === 'capture' ? await imageInfo(db, req.image) : undefined;
  if (named && !maySee(named, caller)) throw notFound(`image ${req.image}`);
  if (req.kind === 'capture' && (req.minReceivers || req.maxWaitSeconds))
    throw new HttpError(400, 'minReceivers and maxWaitSeconds are for deploy and multicast tasks, not a capture');
  if (req.kind !== 'capture' && req.publish !== undefined) throw new HttpError(400, "publish is for a capture: whether its version skips the admin's review");
  if (req.kind === 'deploy' && req.maxWaitSeconds && !req.minReceivers)
    throw new HttpError(400, 'maxWaitSeconds of a swarm deploy needs minReceivers (how many PCs to wait for)');
  if (req.kind === 'capture') {
    assertImageName(req.image);
    if (req.hosts && req.hosts.length !== 1) throw new HttpError(400, `a capture task is for one host (this one names ${req.hosts.length})`);
  }
  return db.transaction(async (tx) => {
    // First, before any row is touched: portals sharing a database then never wait on each other
    // in a circle (db/assign-lock.ts).
    await takeAssignLock(tx);
    const macs = await taskHosts(tx, req);
    if (req.kind === 'capture' && macs.length !== 1) throw new HttpError(400, `a capture task is for one host (group ${req.group} has ${macs.length})`);
    const common = {
      kind: req.kind,
      state,
      created_ms: Date.now(),
      scheduled_ms: scheduledMs,
      created_by: caller.name,
      group_name: req.group ?? null,
      finish: req.finish,
      wake_per_second: req.wake ? req.wakePerSecond : null,
      schedule_id: scheduleId ?? null,
    };
    const none = {
      info_hash: null,
      image_type: null,
      node: null,
      min_receivers: null,
      max_wait_seconds: null,
      first_ready_ms: null,
      started_ms: null,
      publish: false,
    };
    let taskId: number;
    if (req.kind === 'capture') {
      const info = await imageInfo(tx, req.image);
      if (info?.access === 'deleted') throw new HttpError(409, `image ${req.image} is deleted: capture under another name`, 'image');
      // A retired image is out of use on purpose: a new version would not be deployed anyway.
      if (info?.access === 'retired') throw new HttpError(409, `image ${req.image} is retired: bring it back on its page first`, 'image');
      const type = req.type ?? info?.image_type;
      if (!type) throw new HttpError(400, 'a capture of a new image needs its type (resizable, multipart, alldisks or raw)');
      await refuseBusy(tx, macs);
      if (!info)
        await insertImageInfo(tx, {
          name: req.image,
          image_type: type,
          owner: caller.name,
          access: 'public',
          status: 'pending',
          tags: '[]',
          created_ms: Date.now(),
        });
      const live = await liveNodes(tx, Date.now() - config.nodeTimeoutMs);
      const node = req.node ? live.find((n) => n.name === req.node) : live[0];
      if (!node) throw new HttpError(409, req.node ? `storage node ${req.node} is not up` : 'no storage node is up to receive the capture');
      const version = await nextImageVersion(tx, req.image);
      taskId = await insertTask(tx, {
        ...none,
        ...common,
        linger_seconds: 0,
        image_name: req.image,
        image_type: type,
        node: node.name,
        image_version: version,
        publish: req.publish ?? false,
      });
      const mac = macs[0]!;
      const expiresMs = Date.now() + config.keyLifetimeMs;
      await insertTaskHosts(tx, [
        {
          ...NEW_HOST,
          task_id: taskId,
          mac,
          key: issueSwarmKey(config.secret, uploadKeyScope(req.image, version), holderOfMac(mac), expiresMs),
          key_expires_ms: expiresMs,
        },
      ]);
    } else {
      await refuseBusy(tx, macs);
      if (req.minReceivers && req.minReceivers > macs.length)
        throw new HttpError(400, `minReceivers ${req.minReceivers} is more than the ${macs.length} PC(s) of this task`);
      taskId = await insertTask(tx, {
        ...none,
        ...common,
        info_hash: image!.info_hash,
        image_name: image!.name,
        image_version: image!.version,
        linger_seconds: req.lingerSeconds,
        min_receivers: req.minReceivers ?? null,
        max_wait_seconds: req.maxWaitSeconds ?? null,
      });
      await insertTaskHosts(
        tx,
        macs.map((mac) => {
          const { key, expiresMs } = issueKey(deps, image!.info_hash, holderOfMac(mac));
          return { ...NEW_HOST, task_id: taskId, mac, key, key_expires_ms: expiresMs };
        }),
      );
    }
    await audit(tx, caller.name, 'task.create', `task ${taskId}`, {
      kind: req.kind,
      image: req.image,
      hosts: macs.length,
      group: req.group,
      scheduledAt: req.scheduledAt,
    });
    return taskId;
  });
}

const NEW_HOST = { state: 'queued', progress: null, error: null, updated_ms: null, unicast_node: null, key_ip: null, proven_ms: null } as const;
