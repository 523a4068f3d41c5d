/**
 * Hosts (PCs by MAC) and the groups they sit in (a room, a lab): what the admin keeps, the CSV
 * import and export that spares typing 200 MACs, and the registration a PC makes of itself.
 */
import { parse as parseCsv } from 'csv-parse/sync';
import { stringify as toCsv } from 'csv-stringify/sync';
import type { Context } from 'koa';
import { z } from 'zod';
import {
  API,
  DiskPathSchema,
  InventorySchema,
  HostNameSchema,
  MacSchema,
  RegisterHostSchema,
  TaskHostStateSchema,
  type Inventory,
  type RegisterHost,
} from '../../shared/http/api.js';
import { HttpError } from '../../shared/http/errors.js';
import type { ApiRouter } from '../http/api-router.js';
import {
  ApprovedSchema,
  GroupListSchema,
  GroupSchema,
  HostImportSchema,
  HostListSchema,
  HostSchema,
  RegisteredSchema,
  WakeResultSchema,
} from '../../shared/http/portal-contract.js';
import { audit } from '../db/audit.js';
import type { Db } from '../db/open.js';
import type { HostRow } from '../db/tables.js';
import { iso } from '../db/times.js';
import { imageInfo } from '../images/image-store.js';
import { sha256 } from '../access/auth.js';
import { sameSecret } from '../access/host-keys.js';
import type { HostDeps } from './host-deps.js';
import {
  approvePending,
  deleteGroup,
  deleteHost,
  findGroup,
  findHost,
  groupByName,
  groupSizes,
  hostByMac,
  hostCountInGroup,
  hostsByMac,
  insertGroup,
  insertHost,
  listGroups,
  listHosts,
  memberCount,
  memberInventories,
  newestTasks,
  openTaskOfHost,
  otherHostNamed,
  pendingCount,
  updateGroup,
  updateHost,
  type NewestTask,
} from './host-store.js';
import { DEFAULT_WAKE_PER_SECOND, NO_SUBNET, WAKE_OFF, wakeAddressOf, wakeHosts } from './wake.js';

/** A MAC as the portal stores it: lower case with colons. */
export const normalMac = (mac: string): string => MacSchema.parse(mac).toLowerCase().replace(/-/g, ':');

const groupName = z
  .string()
  .trim()
  .regex(/^[A-Za-z0-9][A-Za-z0-9 ._-]{0,63}$/, 'letters, digits, space and . _ - (at most 64)');
const hostName = HostNameSchema;
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

/**
 * New registrations a PC's address may make: a burst of NEW_PER_ADDRESS, then one every
 * 60/NEW_PER_ADDRESS s; and at most MAX_PENDING hosts waiting for approval in all. (300 made-up
 * MACs into a group in under two seconds was the probe.)
 */
const NEW_PER_ADDRESS = 20;
const MAX_PENDING = 1000;
const registrations = new Map<string, { tokens: number; at: number }>();
function takeRegistration(ip: string): void {
  const now = Date.now();
  const b = registrations.get(ip) ?? { tokens: NEW_PER_ADDRESS, at: now };
  b.tokens = Math.min(NEW_PER_ADDRESS, b.tokens + ((now - b.at) / 60_000) * NEW_PER_ADDRESS);
  b.at = now;
  if (b.tokens < 1) throw new HttpError(429, `too many new hosts registered from ${ip}: try again in a few seconds`);
  b.tokens -= 1;
  registrations.delete(ip);
  registrations.set(ip, b);
  if (registrations.size > 10_000) registrations.delete(registrations.keys().next().value!);
}
const NewHost = z
  .object({ mac: MacSchema, name: hostName.optional(), disk: DiskPathSchema.optional(), group: z.string().optional(), image: z.string().optional() })
  .strict();
const ChangeHost = z
  .object({
    name: hostName.nullable().optional(),
    disk: DiskPathSchema.nullable().optional(),
    group: z.string().nullable().optional(),
    image: z.string().nullable().optional(),
  })
  .strict();
const HostQuery = z.object({
  search: z.string().max(100).optional(),
  group: z.string().max(64).optional(),
  state: TaskHostStateSchema.optional(),
  /** true: only hosts waiting for approval; false: only approved ones. */
  pending: z.enum(['true', 'false']).optional(),
});
const CSV_COLUMNS = ['mac', 'name', 'disk', 'group', 'image'] as const;
const MAX_IMPORT_ROWS = 5000;

function hostView(h: HostRow, task: NewestTask | undefined) {
  return {
    mac: h.mac,
    name: h.name,
    disk: h.disk,
    group: h.group_name,
    image: h.image_name,
    ip: h.ip,
    pending: Boolean(h.pending),
    lastSeen: iso(h.last_seen_ms),
    createdAt: iso(h.created_ms),
    inventory: h.inventory ? (JSON.parse(h.inventory) as Inventory) : null,
    task: task ?? null,
  };
}

export async function describeHost(db: Db, mac: string) {
  const h = await hostByMac(db, mac);
  return hostView(h, (await newestTasks(db, [mac])).get(mac));
}

/** Checks what a host refers to, inside the caller's transaction. */
async function checkRefs(tx: Db, h: { group?: string | null; image?: string | null; name?: string | null }, mac: string): Promise<void> {
  if (h.group && !(await findGroup(tx, h.group))) throw new HttpError(400, `unknown group ${h.group} (create it first)`);
  if (h.image) {
    const image = await imageInfo(tx, h.image);
    if (!image) throw new HttpError(400, `unknown image ${h.image}`);
    if (image.access === 'deleted') throw new HttpError(409, `image ${h.image} is deleted`);
  }
  if (h.name) {
    const other = await otherHostNamed(tx, h.name, mac);
    if (other) throw new HttpError(409, `the name ${h.name} is taken by ${other.mac}`);
  }
}

const hostColumns = (h: { name?: string | null; disk?: string | null; group?: string | null; image?: string | null }) => ({
  ...(h.name !== undefined && { name: h.name }),
  ...(h.disk !== undefined && { disk: h.disk }),
  ...(h.group !== undefined && { group_name: h.group }),
  ...(h.image !== undefined && { image_name: h.image }),
});

export function hostRoutes(api: ApiRouter, deps: HostDeps): void {
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
        const changes = {
          ...(body.description !== undefined && { description: body.description }),
          ...(body.registrationSecret !== undefined && { secret_hash: body.registrationSecret === null ? null : sha256(body.registrationSecret) }),
        };
        await groupByName(tx, params.name!);
        if (Object.keys(changes).length) await updateGroup(tx, params.name!, changes);
        // The secret itself is not written to the audit log.
        await audit(tx, caller.name, 'group.update', params.name!, {
          ...body,
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

  api.add(
    {
      method: 'get',
      path: `${API}/hosts.csv`,
      summary: 'Every host as CSV (mac,name,disk,group,image)',
      tag: 'hosts',
      access: 'read',
      responseType: 'text/csv',
      response: 'raw',
    },
    async (ctx) => {
      const rows = await hostsByMac(db);
      ctx.type = 'text/csv';
      ctx.attachment('shoal-hosts.csv');
      ctx.body = toCsv(
        rows.map((h) => [h.mac, h.name ?? '', h.disk ?? '', h.group_name ?? '', h.image_name ?? '']),
        { header: true, columns: [...CSV_COLUMNS] },
      );
    },
  );

  api.add(
    {
      method: 'post',
      path: `${API}/hosts/import`,
      summary: 'Add or update hosts from CSV with a header line (mac required; name, disk, group, image optional). All or nothing.',
      tag: 'hosts',
      access: 'admin',
      body: z.string(),
      bodyType: 'text/csv',
      response: HostImportSchema,
    },
    async (_ctx, { body, caller }) => {
      let records: Array<Record<string, string>>;
      try {
        records = parseCsv(body, { columns: (h: string[]) => h.map((c) => c.trim().toLowerCase()), skip_empty_lines: true, trim: true, bom: true });
      } catch (err) {
        throw new HttpError(400, `CSV: ${(err as Error).message}`);
      }
      if (!records.length) throw new HttpError(400, 'CSV: no hosts (a header line, then one host per line)');
      if (records.length > MAX_IMPORT_ROWS) throw new HttpError(413, `CSV: ${records.length} hosts, at most ${MAX_IMPORT_ROWS} in one import`);
      const unknown = Object.keys(records[0]!).filter((c) => !(CSV_COLUMNS as readonly string[]).includes(c));
      if (unknown.length)
        throw new HttpError(400, `CSV: unknown column${unknown.length > 1 ? 's' : ''} ${unknown.join(', ')} (known: ${CSV_COLUMNS.join(', ')})`);
      if (!('mac' in records[0]!)) throw new HttpError(400, 'CSV: the header has no mac column');
      const seen = new Map<string, number>();
      const rows = records.map((r, i) => {
        const line = i + 2;
        const parsed = NewHost.safeParse(Object.fromEntries(Object.entries(r).filter(([, v]) => v !== '')));
        if (!parsed.success) throw new HttpError(400, `CSV line ${line}: ${parsed.error.issues.map((x) => `${x.path.join('.')}: ${x.message}`).join('; ')}`);
        const mac = normalMac(parsed.data.mac);
        if (seen.has(mac)) throw new HttpError(400, `CSV line ${line}: ${mac} is also on line ${seen.get(mac)}`);
        seen.set(mac, line);
        return { line, mac, host: parsed.data };
      });
      return db.transaction(async (tx) => {
        let created = 0;
        let updated = 0;
        for (const { line, mac, host } of rows) {
          try {
            await checkRefs(tx, host, mac);
          } catch (err) {
            throw new HttpError((err as HttpError).status ?? 400, `CSV line ${line}: ${(err as Error).message}`);
          }
          if (await findHost(tx, mac)) {
            await updateHost(tx, mac, hostColumns(host));
            updated++;
          } else {
            await insertHost(tx, { mac, ...hostColumns(host), created_ms: Date.now() });
            created++;
          }
        }
        await audit(tx, caller.name, 'host.import', null, { created, updated });
        return { created, updated };
      });
    },
  );

  // A PC registers itself. A new MAC is taken as it comes (quick: MAC only; full: name, group,
  // image, inventory). A known host may refresh its inventory and address, never its name, disk,
  // group or image: a PC must not move another PC into its group or point its boot elsewhere.
  api.add(
    {
      method: 'post',
      path: `${API}/hosts/register`,
      summary: 'A PC registers (quick: MAC only; full: name, group, image, inventory)',
      tag: 'clients',
      access: 'public',
      body: RegisterHostSchema,
      response: RegisteredSchema,
    },
    async (ctx, { body }) => ({
      mac: await registerHost(deps, ctx, body),
    }),
  );
}

/**
 * Registers a PC, or refreshes a known one (the API route and iPXE's registration menu). A new
 * MAC waits for an admin's approval (enrolment `approve`) unless it brings its group's
 * registration secret; a pending host is in no group deploy and gets no boot script.
 */
export async function registerHost(deps: HostDeps, ctx: Context, body: RegisterHost): Promise<string> {
  const { db } = deps;
  const mac = normalMac(body.mac);
  const inventory = body.inventory ? JSON.stringify(InventorySchema.parse(body.inventory)) : undefined;
  await db.transaction(async (tx) => {
    const known = await findHost(tx, mac);
    const wanted = hostColumns(body);
    if (known) {
      // A PC has no secret of its own, and its task key is handed to whoever asks with its MAC:
      // what the admin set (name, disk, group, image) is the admin's alone to change.
      const changes = Object.entries(wanted).filter(([k, v]) => (known as unknown as Record<string, unknown>)[k] !== v);
      if (changes.length) {
        throw new HttpError(
          403,
          `host ${mac} is registered: its ${changes.map(([k]) => k.replace('_name', '')).join(', ')} can be changed by an admin only (in the portal)`,
        );
      }
    }
    await checkRefs(tx, body, mac);
    const seen = { ip: ctx.ip, last_seen_ms: Date.now(), ...(inventory && { inventory }) };
    if (known) await updateHost(tx, mac, { ...wanted, ...seen });
    else {
      let vouched = false;
      if (body.secret !== undefined) {
        const group = body.group ? await findGroup(tx, body.group) : undefined;
        if (!group?.secret_hash || !sameSecret(sha256(body.secret), group.secret_hash))
          throw new HttpError(403, `wrong registration secret for group ${body.group ?? '(none given)'}`);
        vouched = true;
      }
      const pending = deps.config.enrolment === 'approve' && !vouched;
      if (pending && (await pendingCount(tx)) >= MAX_PENDING) {
        throw new HttpError(429, `${MAX_PENDING} hosts already wait for approval: approve or remove some first`);
      }
      takeRegistration(ctx.ip);
      await insertHost(tx, { mac, ...wanted, ...seen, created_ms: Date.now(), pending });
      await audit(tx, `host:${mac}`, 'host.register', mac, { ...wanted, ...(pending ? { pending: true } : { by: 'group secret' }) });
    }
  });
  return mac;
}
