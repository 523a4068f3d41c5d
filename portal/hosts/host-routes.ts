/**
 * Hosts (PCs by MAC) and the groups they sit in (a room, a lab): what the admin keeps, the CSV
 * import and export that spares typing 200 MACs, and the registration a PC makes of itself.
 */
import { parse as parseCsv } from 'csv-parse/sync';
import { stringify as toCsv } from 'csv-stringify/sync';
import type { Knex } from 'knex';
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
  type RegisterHost,
} from '../../shared/http/api.js';
import { HttpError, notFound } from '../../shared/http/errors.js';
import type { ApiRouter } from '../http/api-router.js';
import { audit } from '../db/audit.js';
import { sha256 } from '../access/auth.js';
import { sameSecret } from '../access/host-keys.js';
import type { HostDeps } from './host-deps.js';
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

interface HostRow {
  mac: string;
  name: string | null;
  disk: string | null;
  group_name: string | null;
  image_name: string | null;
  ip: string | null;
  inventory: string | null;
  last_seen_ms: number | null;
  created_ms: number | null;
  pending: boolean | number;
}

const iso = (ms: number | string | null): string | null => (ms === null || ms === undefined ? null : new Date(Number(ms)).toISOString());

/** Each host's newest task and its state there. */
async function newestTasks(db: Knex, macs?: string[]): Promise<Map<string, { id: number; kind: string; state: string }>> {
  // Each host's highest task id first, so a long history costs one row per host, not one per task.
  let latest = db('task_hosts').select('mac').max({ task_id: 'task_id' }).groupBy('mac');
  if (macs) latest = latest.whereIn('mac', macs);
  const rows = await db('task_hosts')
    .join(latest.as('l'), (j) => j.on('task_hosts.mac', 'l.mac').andOn('task_hosts.task_id', 'l.task_id'))
    .join('tasks', 'tasks.id', 'task_hosts.task_id')
    .select('task_hosts.mac', 'task_hosts.state', 'tasks.id', 'tasks.kind');
  return new Map(rows.map((r: { mac: string; state: string; id: number; kind: string }) => [r.mac, { id: r.id, kind: r.kind, state: r.state }]));
}

function hostView(h: HostRow, task: { id: number; kind: string; state: string } | undefined) {
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
    inventory: h.inventory ? JSON.parse(h.inventory) : null,
    task: task ?? null,
  };
}

export async function describeHost(db: Knex, mac: string) {
  const h = await db<HostRow>('hosts').where({ mac }).first();
  if (!h) throw notFound(`host ${mac}`);
  return hostView(h, (await newestTasks(db, [mac])).get(mac));
}

/** Checks what a host refers to, inside the caller's transaction. */
async function checkRefs(tx: Knex, h: { group?: string | null; image?: string | null; name?: string | null }, mac: string): Promise<void> {
  if (h.group && !(await tx('groups').where({ name: h.group }).first())) throw new HttpError(400, `unknown group ${h.group} (create it first)`);
  if (h.image) {
    const image = await tx('image_info').where({ name: h.image }).first();
    if (!image) throw new HttpError(400, `unknown image ${h.image}`);
    if (image.access === 'deleted') throw new HttpError(409, `image ${h.image} is deleted`);
  }
  if (h.name) {
    const other = await tx('hosts').where({ name: h.name }).whereNot({ mac }).first();
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
  api.add({ method: 'get', path: `${API}/groups`, summary: 'Groups of hosts, with their sizes', tag: 'hosts', access: 'read' }, async () => {
    const counts = new Map(
      (await db('hosts').whereNotNull('group_name').where({ pending: false }).groupBy('group_name').select('group_name').count({ n: '*' })).map((r: any) => [
        r.group_name,
        Number(r.n),
      ]),
    );
    return {
      groups: (await db('groups').orderBy('name')).map((g: { name: string; description: string | null; secret_hash: string | null }) => ({
        name: g.name,
        description: g.description,
        hosts: counts.get(g.name) ?? 0,
        registrationSecret: Boolean(g.secret_hash),
      })),
    };
  });

  api.add(
    { method: 'post', path: `${API}/groups`, summary: 'Add a group', tag: 'hosts', access: 'admin', body: NewGroup, status: 201 },
    async (_ctx, { body, caller }) => {
      await db.transaction(async (tx) => {
        if (await tx('groups').where({ name: body.name }).first()) throw new HttpError(409, `group ${body.name} exists`);
        await tx('groups').insert({ name: body.name, description: body.description ?? null, created_ms: Date.now() });
        await audit(tx, caller.name, 'group.create', body.name);
      });
      return { name: body.name, description: body.description ?? null, hosts: 0 };
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
    },
    async (_ctx, { body, params, caller }) => {
      await db.transaction(async (tx) => {
        const changes = {
          ...(body.description !== undefined && { description: body.description }),
          ...(body.registrationSecret !== undefined && { secret_hash: body.registrationSecret === null ? null : sha256(body.registrationSecret) }),
        };
        if (!(await tx('groups').where({ name: params.name }).first())) throw notFound(`group ${params.name}`);
        if (Object.keys(changes).length) await tx('groups').where({ name: params.name }).update(changes);
        // The secret itself is not written to the audit log.
        await audit(tx, caller.name, 'group.update', params.name!, {
          ...body,
          ...(body.registrationSecret !== undefined && { registrationSecret: body.registrationSecret === null ? 'removed' : 'set' }),
        });
      });
      const g = await db('groups').where({ name: params.name }).first();
      const n = await db('hosts').where({ group_name: params.name, pending: false }).count({ n: '*' }).first();
      return { name: params.name, description: g.description, hosts: Number(n?.n ?? 0), registrationSecret: Boolean(g.secret_hash) };
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
    },
    async (_ctx, { body, caller }) => {
      const macs = body.hosts?.map(normalMac);
      return db.transaction(async (tx) => {
        const q = tx('hosts').where({ pending: true });
        const approved = (await (macs ? q.whereIn('mac', macs) : q).select('mac')).map((r: { mac: string }) => r.mac);
        for (let i = 0; i < approved.length; i += 500)
          await tx('hosts')
            .whereIn('mac', approved.slice(i, i + 500))
            .update({ pending: false });
        await audit(tx, caller.name, 'host.approve', null, { hosts: approved.length <= 50 ? approved : approved.length });
        return { approved };
      });
    },
  );

  api.add(
    { method: 'delete', path: `${API}/groups/:name`, summary: 'Remove an empty group', tag: 'hosts', access: 'admin' },
    async (_ctx, { params, caller }) => {
      await db.transaction(async (tx) => {
        if (!(await tx('groups').where({ name: params.name }).first())) throw notFound(`group ${params.name}`);
        const n = Number((await tx('hosts').where({ group_name: params.name }).count({ n: '*' }).first())?.n ?? 0);
        if (n) throw new HttpError(409, `group ${params.name} still has ${n} host${n === 1 ? '' : 's'}: move them first`);
        await tx('groups').where({ name: params.name }).delete();
        await audit(tx, caller.name, 'group.delete', params.name!);
      });
    },
  );

  // Wake-on-LAN on demand: one PC, or a room at a pace (so it does not power on at once).
  api.add(
    { method: 'post', path: `${API}/hosts/:mac/wake`, summary: "Wake a host (Wake-on-LAN to its subnet's broadcast)", tag: 'hosts', access: 'images' },
    async (_ctx, { params, caller }) => {
      const mac = normalMac(params.mac!);
      const h = await db<HostRow>('hosts').where({ mac }).first();
      if (!h) throw notFound(`host ${mac}`);
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
    },
    async (_ctx, { params, body, caller }) => {
      if (!(await db('groups').where({ name: params.name }).first())) throw notFound(`group ${params.name}`);
      const rows = await db<HostRow>('hosts').where({ group_name: params.name, pending: false }).orderBy('mac').select('mac', 'inventory');
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
    },
    async (_ctx, { query }) => {
      let q = db<HostRow>('hosts').orderBy([{ column: 'name' }, { column: 'mac' }]);
      if (query.group) q = q.where({ group_name: query.group });
      if (query.pending) q = q.where({ pending: query.pending === 'true' });
      if (query.search) {
        const like = `%${query.search.toLowerCase().replace(/[%_\\]/g, (c) => `\\${c}`)}%`;
        q = q.where((w) => {
          w.whereRaw("lower(coalesce(name, '')) like ? escape '\\'", [like]).orWhereRaw("mac like ? escape '\\'", [like]);
        });
      }
      const tasks = await newestTasks(db);
      const hosts = (await q).map((h) => hostView(h, tasks.get(h.mac)));
      return { hosts: query.state ? hosts.filter((h) => h.task?.state === query.state) : hosts };
    },
  );

  api.add(
    { method: 'post', path: `${API}/hosts`, summary: 'Add a host', tag: 'hosts', access: 'admin', body: NewHost, status: 201 },
    async (_ctx, { body, caller }) => {
      const mac = normalMac(body.mac);
      await db.transaction(async (tx) => {
        if (await tx('hosts').where({ mac }).first()) throw new HttpError(409, `host ${mac} exists`);
        await checkRefs(tx, body, mac);
        await tx('hosts').insert({ mac, ...hostColumns(body), created_ms: Date.now() });
        await audit(tx, caller.name, 'host.create', mac, hostColumns(body));
      });
      return describeHost(db, mac);
    },
  );

  api.add(
    { method: 'patch', path: `${API}/hosts/:mac`, summary: "Change a host's name, disk, group or image", tag: 'hosts', access: 'admin', body: ChangeHost },
    async (_ctx, { body, params, caller }) => {
      const mac = normalMac(params.mac!);
      await db.transaction(async (tx) => {
        if (!(await tx('hosts').where({ mac }).first())) throw notFound(`host ${mac}`);
        await checkRefs(tx, body, mac);
        const cols = hostColumns(body);
        if (Object.keys(cols).length) await tx('hosts').where({ mac }).update(cols);
        await audit(tx, caller.name, 'host.update', mac, cols);
      });
      return describeHost(db, mac);
    },
  );

  api.add(
    { method: 'delete', path: `${API}/hosts/:mac`, summary: 'Remove a host that is in no active task', tag: 'hosts', access: 'admin' },
    async (_ctx, { params, caller }) => {
      const mac = normalMac(params.mac!);
      await db.transaction(async (tx) => {
        if (!(await tx('hosts').where({ mac }).first())) throw notFound(`host ${mac}`);
        const busy = await tx('task_hosts')
          .join('tasks', 'tasks.id', 'task_hosts.task_id')
          .where('task_hosts.mac', mac)
          .whereIn('tasks.state', ['active', 'scheduled'])
          .first();
        if (busy) throw new HttpError(409, `host ${mac} is in task ${busy.task_id}: cancel it first`);
        await tx('task_host_log').where({ mac }).delete();
        await tx('task_hosts').where({ mac }).delete();
        await tx('hosts').where({ mac }).delete();
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
    },
    async (ctx) => {
      const rows = await db<HostRow>('hosts').orderBy('mac');
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
          if (await tx('hosts').where({ mac }).first()) {
            await tx('hosts').where({ mac }).update(hostColumns(host));
            updated++;
          } else {
            await tx('hosts').insert({ mac, ...hostColumns(host), created_ms: Date.now() });
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
    const known = await tx<HostRow>('hosts').where({ mac }).first();
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
    if (known)
      await tx('hosts')
        .where({ mac })
        .update({ ...wanted, ...seen });
    else {
      let vouched = false;
      if (body.secret !== undefined) {
        const group = body.group ? await tx('groups').where({ name: body.group }).first() : undefined;
        if (!group?.secret_hash || !sameSecret(sha256(body.secret), group.secret_hash))
          throw new HttpError(403, `wrong registration secret for group ${body.group ?? '(none given)'}`);
        vouched = true;
      }
      const pending = deps.config.enrolment === 'approve' && !vouched;
      if (pending && Number((await tx('hosts').where({ pending: true }).count({ n: '*' }).first())?.n ?? 0) >= MAX_PENDING) {
        throw new HttpError(429, `${MAX_PENDING} hosts already wait for approval: approve or remove some first`);
      }
      takeRegistration(ctx.ip);
      await tx('hosts').insert({ mac, ...wanted, ...seen, created_ms: Date.now(), pending });
      await audit(tx, `host:${mac}`, 'host.register', mac, { ...wanted, ...(pending ? { pending: true } : { by: 'group secret' }) });
    }
  });
  return mac;
}
