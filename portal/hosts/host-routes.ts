/**
 * Hosts (PCs by MAC): the list with its search and filters, what the admin adds, changes and
 * removes, and waking one PC.
 */
import { z } from 'zod';
import { API, TaskHostStateSchema } from '../../shared/http/api.js';
import { HttpError } from '../../shared/http/errors.js';
import type { ApiRouter } from '../http/api-router.js';
import { HostListSchema, HostSchema, WakeResultSchema } from '../../shared/http/portal-contract.js';
import { audit } from '../db/audit.js';
import type { HostDeps } from './host-deps.js';
import { deleteHost, findHost, hostByMac, insertHost, listHosts, newestTasks, openTaskOfHost, updateHost } from './host-store.js';
import { ChangeHost, checkRefs, describeHost, hostColumns, hostView, NewHost, normalMac } from './host-rules.js';
import { NO_SUBNET, WAKE_OFF, wakeAddressOf, wakeHosts } from './wake.js';

const HostQuery = z.object({
  search: z.string().max(100).optional(),
  group: z.string().max(64).optional(),
  state: TaskHostStateSchema.optional(),
  /** true: only hosts waiting for approval; false: only approved ones. */
  pending: z.enum(['true', 'false']).optional(),
});

export function hostRoutes(api: ApiRouter, deps: HostDeps): void {
  const { db } = deps;
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
      summary: 'Hosts: search by name or MAC, filter by group and by state in their newest task',
      tag: 'hosts',
      access: 'read',
      query: HostQuery,
      response: HostListSchema,
    },
    async (_ctx, { query }) => {
      const rows = await listHosts(db, {
        group: query.group,
        pending: query.pending === undefined ? undefined : query.pending === 'true',
        search: query.search,
      });
      const tasks = await newestTasks(db);
      const hosts = rows.map((h) => hostView(h, tasks.get(h.mac)));
      return { hosts: query.state ? hosts.filter((h) => h.task?.state === query.state) : hosts };
    },
  );

  api.add(
    { method: 'post', path: `${API}/hosts`, summary: 'Add a host', tag: 'hosts', access: 'admin', body: NewHost, status: 201, response: HostSchema },
    async (_ctx, { body, caller }) => {
      const mac = normalMac(body.mac);
      await db.transaction(async (tx) => {
        if (await findHost(tx, mac)) throw new HttpError(409, `host ${mac} exists`);
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
        await hostByMac(tx, mac);
        await checkRefs(tx, body, mac);
        const cols = hostColumns(body);
        if (Object.keys(cols).length) await updateHost(tx, mac, cols);
        await audit(tx, caller.name, 'host.update', mac, cols);
      });
      return describeHost(db, mac);
    },
  );

  api.add(
    { method: 'delete', path: `${API}/hosts/:mac`, summary: 'Remove a host that is in no active task', tag: 'hosts', access: 'admin', response: 'empty' },
    async (_ctx, { params, caller }) => {
      const mac = normalMac(params.mac!);
      await db.transaction(async (tx) => {
        await hostByMac(tx, mac);
        const busy = await openTaskOfHost(tx, mac);
        if (busy !== undefined) throw new HttpError(409, `host ${mac} is in task ${busy}: cancel it first`);
        await deleteHost(tx, mac);
        await audit(tx, caller.name, 'host.delete', mac);
      });
    },
  );
}
