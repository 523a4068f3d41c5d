/**
 * Hosts (PCs by MAC): the list with its search and filters, what the admin adds, changes and
 * removes, and waking one PC.
 */
import { z } from 'zod';
import { API, TaskHostStateSchema } from '../../shared/http/api.js';
import { HttpError } from '../../shared/http/errors.js';
import type { ApiRouter } from '../http/api-router.js';
import { HOST_SORTS, HostHistorySchema, HostListSchema, HostSchema, WakeResultSchema } from '../../shared/http/portal-contract.js';
import { audit, changes } from '../db/audit.js';
import { iso } from '../db/times.js';
import type { HostDeps } from './host-deps.js';
import { deleteHost, findHost, hostByMac, hostHistory, insertHost, listHosts, openTaskOfHost, pendingCount, updateHost } from './host-store.js';
import { ChangeHost, checkRefs, describeHost, hostColumns, listedHostView, NewHost, normalMac } from './host-rules.js';
import { hostBulkRoutes } from './host-bulk.js';
import { NO_SUBNET, WAKE_OFF, wakeAddressOf, wakeHosts } from './wake.js';

/** The most hosts one page of the list holds. */
const MAX_PAGE = 500;

const HostFilterQuery = z.object({
  search: z.string().max(100).optional(),
  group: z.string().max(64).optional(),
  state: TaskHostStateSchema.optional(),
  /** true: only hosts waiting for approval; false: only approved ones. */
  pending: z.enum(['true', 'false']).optional(),
});
/** Without limit every matching host comes, as before paging (scripts, the task form's picker). */
const HostQuery = HostFilterQuery.extend({
  sort: z.enum(HOST_SORTS).optional(),
  order: z.enum(['asc', 'desc']).optional(),
  limit: z.coerce.number().int().min(1).max(MAX_PAGE).optional(),
  offset: z.coerce.number().int().min(0).max(1_000_000).optional(),
});

export function hostRoutes(api: ApiRouter, deps: HostDeps): void {
  const { db } = deps;
  hostBulkRoutes(api, deps);
  // Wake-on-LAN on demand: one PC, or a room at a pace (so it does not power on at once).
  api.add(
    {
      method: 'post',
      path: `${API}/hosts/:mac/wake`,
      summary: "Wake a host (Wake-on-LAN to its subnet's broadcast)",
      tag: 'hosts',
      access: 'images',
      response: WakeResultSchema,
    },
    async (_ctx, { params, caller }) => {
      const mac = normalMac(params.mac!);
      const h = await hostByMac(db, mac);
      if (!deps.config.wake) throw new HttpError(409, `host ${mac}: ${WAKE_OFF}`);
      const address = wakeAddressOf(mac, h.inventory);
      if (!address) throw new HttpError(409, `host ${mac}: ${NO_SUBNET}`);
      const target = { mac, address };
      const sent = await wakeHosts([target], { perSecond: 1, port: deps.config.wakePort });
      if (!sent) throw new HttpError(502, `the Wake-on-LAN packet to ${target.address} could not be sent (see the portal's log)`);
      await audit(db, caller.name, 'host.wake', mac, { address: target.address });
      return { hosts: 1, notWoken: [], addresses: [target.address], perSecond: 1, seconds: 0 };
    },
  );

  api.add(
    {
      method: 'get',
      path: `${API}/hosts`,
      summary:
        'Hosts: search by name or MAC, filter by group and by state in their newest task; sorted, and a page of them with limit and offset (total: how many match)',
      tag: 'hosts',
      access: 'read',
      query: HostQuery,
      response: HostListSchema,
    },
    async (_ctx, { query }) => {
      const { rows, total } = await listHosts(db, {
        group: query.group,
        pending: query.pending === undefined ? undefined : query.pending === 'true',
        search: query.search,
        state: query.state,
        sort: query.sort,
        order: query.order,
        limit: query.limit,
        offset: query.offset,
      });
      return { hosts: rows.map(listedHostView), total, pendingTotal: await pendingCount(db) };
    },
  );

  api.add({ method: 'get', path: `${API}/hosts/:mac`, summary: 'One host', tag: 'hosts', access: 'read', response: HostSchema }, async (_ctx, { params }) =>
    describeHost(db, normalMac(params.mac!)),
  );

  api.add(
    {
      method: 'get',
      path: `${API}/hosts/:mac/tasks`,
      summary: 'Every task a host was in, newest first, with its state there',
      tag: 'hosts',
      access: 'read',
      response: HostHistorySchema,
    },
    async (_ctx, { params }) => {
      const mac = normalMac(params.mac!);
      await hostByMac(db, mac);
      return {
        tasks: (await hostHistory(db, mac)).map((t) => ({
          id: t.id,
          kind: t.kind,
          taskState: t.task_state,
          state: t.state,
          error: t.error,
          image: t.image_name,
          version: t.image_version,
          createdAt: iso(t.created_ms),
          updatedAt: iso(t.updated_ms),
        })),
      };
    },
  );

  api.add(
    { method: 'post', path: `${API}/hosts`, summary: 'Add a host', tag: 'hosts', access: 'admin', body: NewHost, status: 201, response: HostSchema },
    async (_ctx, { body, caller }) => {
      const mac = normalMac(body.mac);
      await db.transaction(async (tx) => {
        const known = await findHost(tx, mac);
        if (known) throw new HttpError(409, `host ${mac} exists${known.name ? ` (${known.name})` : ''}`, 'mac');
        await checkRefs(tx, body, mac);
        await insertHost(tx, { mac, ...hostColumns(body), created_ms: Date.now() });
        await audit(tx, caller.name, 'host.create', mac, hostColumns(body));
      });
      return describeHost(db, mac);
    },
  );

  api.add(
    {
      method: 'patch',
      path: `${API}/hosts/:mac`,
      summary: "Change a host's name, disk, group or image",
      tag: 'hosts',
      access: 'admin',
      body: ChangeHost,
      response: HostSchema,
    },
    async (_ctx, { body, params, caller }) => {
      const mac = normalMac(params.mac!);
      await db.transaction(async (tx) => {
        const before = await hostByMac(tx, mac);
        await checkRefs(tx, body, mac);
        const cols = hostColumns(body);
        if (Object.keys(cols).length) await updateHost(tx, mac, cols);
        await audit(tx, caller.name, 'host.update', mac, changes(before, cols));
      });
      return describeHost(db, mac);
    },
  );

  api.add(
    { method: 'delete', path: `${API}/hosts/:mac`, summary: 'Remove a host that is in no active task', tag: 'hosts', access: 'admin', response: 'empty' },
    async (_ctx, { params, caller }) => {
      const mac = normalMac(params.mac!);
      await db.transaction(async (tx) => {
        const h = await hostByMac(tx, mac);
        const busy = await openTaskOfHost(tx, mac);
        if (busy !== undefined) throw new HttpError(409, `host ${h.name ?? mac} is in task ${busy}: cancel it first`);
        await deleteHost(tx, mac);
        await audit(tx, caller.name, 'host.delete', mac);
      });
    },
  );
}
