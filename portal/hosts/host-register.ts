/**
 * The registration a PC makes of itself: a new MAC waits for approval unless it brings its
 * group's secret; a known one may refresh only its inventory and address.
 */
import type { Context } from 'koa';
import { API, InventorySchema, RegisterHostSchema, type RegisterHost } from '../../shared/http/api.js';
import { HttpError } from '../../shared/http/errors.js';
import type { ApiRouter } from '../http/api-router.js';
import { RegisteredSchema } from '../../shared/http/portal-contract.js';
import { audit } from '../db/audit.js';
import { sha256 } from '../access/auth.js';
import { sameSecret } from '../access/host-keys.js';
import type { HostDeps } from './host-deps.js';
import { findGroup, findHost, insertHost, pendingCount, updateHost } from './host-store.js';
import { checkRefs, hostColumns, normalMac } from './host-rules.js';

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

export function registerRoutes(api: ApiRouter, deps: HostDeps): void {
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
