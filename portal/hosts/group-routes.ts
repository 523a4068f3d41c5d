/**
 * Groups of hosts (a room, a lab): what the admin keeps, the approval of PCs that registered
 * themselves, and waking a room at a pace.
 */
import { z } from 'zod';
import { API, MacSchema } from '../../shared/http/api.js';
import { HttpError } from '../../shared/http/errors.js';
import type { ApiRouter } from '../http/api-router.js';
import { ApprovedSchema, GroupListSchema, GroupSchema, WakeResultSchema } from '../../shared/http/portal-contract.js';
import { audit, changes } from '../db/audit.js';
import { sha256 } from '../access/auth.js';
import type { HostDeps } from './host-deps.js';
import {
  approvePending,
  deleteGroup,
  findGroup,
  groupByName,
  groupSizes,
  hostCountInGroup,
  insertGroup,
  listGroups,
  memberCount,
  memberInventories,
  updateGroup,
} from './host-store.js';
import { normalMac } from './host-rules.js';
import { DEFAULT_WAKE_PER_SECOND, wakeAddressOf, WAKE_OFF } from './wake.js';

/** A group's name (the CSV import checks the groups it would create by it too). */
export const groupName = z
  .string()
  .trim()
  .regex(/^[A-Za-z0-9][A-Za-z0-9 ._-]{0,63}$/, 'letters, digits, space and . _ - (at most 64)');
const WakeBody = z.object({ perSecond: z.number().positive().max(1000).default(DEFAULT_WAKE_PER_SECOND) }).strict();
const NewGroup = z.object({ name: groupName, description: z.string().max(1000).optional() }).strict();
const ChangeGroup = z
  .object({
    description: z.string().max(1000).optional(),
    /** A PC registering into this group with it joins at once; null removes it (every new PC waits for approval). */
    registrationSecret: z.string().min(12, 'at least 12 characters').max(200).nullable().optional(),
  })
  .strict();
const ApproveBody = z
  .object({ hosts: z.array(MacSchema).min(1).max(5000).optional(), allPending: z.literal(true).optional() })
  .strict()
  .refine((b) => Boolean(b.hosts) !== Boolean(b.allPending), { message: 'give hosts (a list of MACs) or allPending: true' });

export function groupRoutes(api: ApiRouter, deps: HostDeps): void {
  const { db } = deps;
  api.add(
    { method: 'get', path: `${API}/groups`, summary: 'Groups of hosts, with their sizes', tag: 'hosts', access: 'read', response: GroupListSchema },
    async () => {
      const counts = await groupSizes(db);
      return {
        groups: (await listGroups(db)).map((g) => ({
          name: g.name,
          description: g.description,
          hosts: counts.get(g.name) ?? 0,
          registrationSecret: Boolean(g.secret_hash),
        })),
      };
    },
  );

  api.add(
    { method: 'post', path: `${API}/groups`, summary: 'Add a group', tag: 'hosts', access: 'admin', body: NewGroup, status: 201, response: GroupSchema },
    async (_ctx, { body, caller }) => {
      await db.transaction(async (tx) => {
        if (await findGroup(tx, body.name)) throw new HttpError(409, `group ${body.name} exists`);
        await insertGroup(tx, { name: body.name, description: body.description ?? null, created_ms: Date.now() });
        await audit(tx, caller.name, 'group.create', body.name);
      });
      return { name: body.name, description: body.description ?? null, hosts: 0, registrationSecret: false };
    },
  );

  api.add(
    {
      method: 'patch',
      path: `${API}/groups/:name`,
      summary: "Change a group's description or registration secret",
      tag: 'hosts',
      access: 'admin',
      body: ChangeGroup,
      response: GroupSchema,
    },
    async (_ctx, { body, params, caller }) => {
      await db.transaction(async (tx) => {
        const update = {
          ...(body.description !== undefined && { description: body.description }),
          ...(body.registrationSecret !== undefined && { secret_hash: body.registrationSecret === null ? null : sha256(body.registrationSecret) }),
        };
        const before = await groupByName(tx, params.name!);
        if (Object.keys(update).length) await updateGroup(tx, params.name!, update);
        // The secret itself is not written to the audit log.
        await audit(tx, caller.name, 'group.update', params.name!, {
          ...changes({ description: before.description }, { description: body.description }),
          ...(body.registrationSecret !== undefined && { registrationSecret: body.registrationSecret === null ? 'removed' : 'set' }),
        });
      });
      const g = (await findGroup(db, params.name!))!;
      return { name: params.name!, description: g.description, hosts: await memberCount(db, params.name!), registrationSecret: Boolean(g.secret_hash) };
    },
  );

  api.add(
    {
      method: 'post',
      path: `${API}/hosts/approve`,
      summary: 'Approve hosts that registered themselves (by MAC, or every pending one)',
      tag: 'hosts',
      access: 'admin',
      body: ApproveBody,
      response: ApprovedSchema,
    },
    async (_ctx, { body, caller }) => {
      const macs = body.hosts?.map(normalMac);
      return db.transaction(async (tx) => {
        const approved = await approvePending(tx, macs);
        await audit(tx, caller.name, 'host.approve', null, { hosts: approved.length <= 50 ? approved : approved.length });
        return { approved };
      });
    },
  );

  api.add(
    { method: 'delete', path: `${API}/groups/:name`, summary: 'Remove an empty group', tag: 'hosts', access: 'admin', response: 'empty' },
    async (_ctx, { params, caller }) => {
      await db.transaction(async (tx) => {
        await groupByName(tx, params.name!);
        const n = await hostCountInGroup(tx, params.name!);
        if (n) throw new HttpError(409, `group ${params.name} still has ${n} host${n === 1 ? '' : 's'}: move them first`);
        await deleteGroup(tx, params.name!);
        await audit(tx, caller.name, 'group.delete', params.name!);
      });
    },
  );

  api.add(
    {
      method: 'post',
      path: `${API}/groups/:name/wake`,
      summary: 'Wake every host of a group, perSecond a second (default 5)',
      tag: 'hosts',
      access: 'images',
      body: WakeBody,
      response: WakeResultSchema,
    },
    async (_ctx, { params, body, caller }) => {
      await groupByName(db, params.name!);
      const rows = await memberInventories(db, params.name!);
      if (!rows.length) throw new HttpError(409, `group ${params.name} has no hosts`);
      if (!deps.config.wake) throw new HttpError(409, `group ${params.name}: ${WAKE_OFF}`);
      const targets = rows.flatMap((h) => {
        const address = wakeAddressOf(h.mac, h.inventory);
        return address ? [{ mac: h.mac, address }] : [];
      });
      if (!targets.length) throw new HttpError(409, `group ${params.name}: no host's subnet is known yet (none has registered from the network): nobody woken`);
      deps.wakes.start(targets, { perSecond: body.perSecond, port: deps.config.wakePort });
      await audit(db, caller.name, 'group.wake', params.name!, { hosts: targets.length, perSecond: body.perSecond });
      return {
        hosts: targets.length,
        notWoken: rows.filter((h) => !targets.some((t) => t.mac === h.mac)).map((h) => h.mac),
        addresses: [...new Set(targets.map((t) => t.address))],
        perSecond: body.perSecond,
        seconds: Math.ceil((targets.length - 1) / body.perSecond),
      };
    },
  );
}
