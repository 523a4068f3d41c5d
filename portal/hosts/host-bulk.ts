/**
 * One change to many hosts at once (POST /hosts/bulk): the hosts an admin ticked, or every host
 * matching the list's filter (a lab of 2,000 PCs is not changed one row at a time). Each action is
 * one transaction and one audit entry, so a refused bulk change leaves every host as it was, and
 * the answer says what each host was before, so the UI can offer Undo.
 */
import { z } from 'zod';
import { API, MacSchema, TaskHostStateSchema } from '../../shared/http/api.js';
import { HttpError } from '../../shared/http/errors.js';
import { HostBulkResultSchema } from '../../shared/http/portal-contract.js';
import type { ApiRouter } from '../http/api-router.js';
import { audit } from '../db/audit.js';
import type { HostRow } from '../db/tables.js';
import type { HostDeps } from './host-deps.js';
import { approvePending, deleteHosts, hostsIn, macsMatching, openTasksOf, updateHosts } from './host-store.js';
import { checkRefs, normalMac } from './host-rules.js';
import { DEFAULT_WAKE_PER_SECOND, WAKE_OFF, wakeAddressOf } from './wake.js';

/** The most MACs one call names (a filter reaches any number). */
export const MAX_BULK_HOSTS = 5000;
/** Hosts named one by one in an audit entry's detail; beyond that, their count. */
const AUDIT_NAMED = 200;

const BulkFilter = z
  .object({
    search: z.string().max(100).optional(),
    group: z.string().max(64).optional(),
    state: TaskHostStateSchema.optional(),
    pending: z.boolean().optional(),
  })
  .strict();

const BulkBody = z
  .object({
    action: z.enum(['move', 'image', 'approve', 'delete', 'wake']),
    hosts: z.array(MacSchema).min(1).max(MAX_BULK_HOSTS, `at most ${MAX_BULK_HOSTS} hosts in one change (or give a filter)`).optional(),
    filter: BulkFilter.optional(),
    /**
     * With a filter: how many hosts the admin saw matching it. The filter is run again when the
     * change is made; if it matches another number by then (a PC registered, a state moved on),
     * nothing is changed: a delete must not reach hosts nobody looked at.
     */
    expect: z.number().int().min(1).optional(),
    /** move: the group (null: none). */
    group: z.string().max(64).nullable().optional(),
    /** image: the image (null: none). */
    image: z.string().max(64).nullable().optional(),
  })
  .strict()
  .refine((b) => Boolean(b.hosts) !== Boolean(b.filter), { message: 'give hosts (a list of MACs) or filter', path: ['hosts'] })
  .refine((b) => !b.filter || b.expect !== undefined, { message: 'a change by filter says how many hosts it expects (expect)', path: ['expect'] })
  .refine((b) => b.action !== 'move' || b.group !== undefined, { message: 'a move names the group (null: none)', path: ['group'] })
  .refine((b) => b.action !== 'image' || b.image !== undefined, { message: 'an image change names the image (null: none)', path: ['image'] });

const label = (h: Pick<HostRow, 'mac' | 'name'>): string => h.name ?? h.mac;

/**
 * What each host was before, for the audit entry: per host while they are few; past that, how
 * many hosts had each old value (one entry must stay a readable size whatever the filter reached).
 */
function fromOf(pairs: Array<[string, string | null]>): Record<string, string | null> | { counts: Record<string, number> } {
  if (pairs.length <= AUDIT_NAMED) return Object.fromEntries(pairs);
  const counts: Record<string, number> = {};
  for (const [, old] of pairs) counts[old ?? '(none)'] = (counts[old ?? '(none)'] ?? 0) + 1;
  return { counts };
}

/** "pc-1, pc-2 and 3 more" */
function names(list: string[], shown = 5): string {
  if (list.length <= shown) return list.length > 1 ? `${list.slice(0, -1).join(', ')} and ${list.at(-1)}` : (list[0] ?? '');
  return `${list.slice(0, shown).join(', ')} and ${list.length - shown} more`;
}

export function hostBulkRoutes(api: ApiRouter, deps: HostDeps): void {
  const { db } = deps;
  api.add(
    {
      method: 'post',
      path: `${API}/hosts/bulk`,
      summary:
        'One change to many hosts (a list of MACs, or every host matching a filter): move to a group, assign an image, approve, delete, wake; one transaction, one audit entry',
      tag: 'hosts',
      access: 'admin',
      body: BulkBody,
      response: HostBulkResultSchema,
    },
    async (_ctx, { body, caller }) => {
      // Normalised and each once, in the order given.
      const named = body.hosts ? [...new Set(body.hosts.map(normalMac))] : undefined;
      const result = await db.transaction(async (tx) => {
        const macs = named ?? (await macsMatching(tx, body.filter!));
        if (!macs.length) throw new HttpError(409, 'no host matches the filter: nothing changed', 'hosts');
        if (body.filter && macs.length !== body.expect)
          throw new HttpError(
            409,
            `the filter now matches ${macs.length} hosts, not the ${body.expect} shown: nothing changed; look at the list again`,
            'hosts',
          );
        const rows = await hostsIn(tx, macs);
        if (rows.length < macs.length) {
          const known = new Set(rows.map((r) => r.mac));
          const missing = macs.filter((m) => !known.has(m));
          throw new HttpError(404, `unknown host${missing.length === 1 ? '' : 's'} ${names(missing)}: nothing changed`, 'hosts');
        }
        const before = rows.map((r) => ({ mac: r.mac, group: r.group_name, image: r.image_name }));
        const target = { hosts: rows.length <= AUDIT_NAMED ? rows.map((r) => r.mac) : rows.length };
        switch (body.action) {
          case 'move': {
            await checkRefs(tx, { group: body.group }, '');
            await updateHosts(tx, macs, { group_name: body.group ?? null });
            await audit(tx, caller.name, 'host.bulk-move', null, { ...target, to: body.group, from: fromOf(before.map((b) => [b.mac, b.group])) });
            return { action: body.action, hosts: macs, before };
          }
          case 'image': {
            await checkRefs(tx, { image: body.image }, '');
            await updateHosts(tx, macs, { image_name: body.image ?? null });
            await audit(tx, caller.name, 'host.bulk-image', null, { ...target, to: body.image, from: fromOf(before.map((b) => [b.mac, b.image])) });
            return { action: body.action, hosts: macs, before };
          }
          case 'approve': {
            const approved = await approvePending(tx, macs);
            await audit(tx, caller.name, 'host.approve', null, { hosts: approved.length <= AUDIT_NAMED ? approved : approved.length });
            return { action: body.action, hosts: approved, before };
          }
          case 'delete': {
            // A PC in a task that is not over would be left half-deployed: named, with its task.
            const busy = await openTasksOf(tx, macs);
            if (busy.length) {
              const byTask = new Map<number, string[]>();
              for (const b of busy) byTask.set(b.task_id, [...(byTask.get(b.task_id) ?? []), label(b)]);
              const why = [...byTask].map(([task, hosts]) => `${names(hosts)} ${hosts.length === 1 ? 'is' : 'are'} in task ${task}`).join('; ');
              throw new HttpError(
                409,
                `${why}: cancel ${byTask.size === 1 ? 'that task' : 'those tasks'} first or leave ${busy.length === 1 ? 'that host' : 'those hosts'} out; nothing deleted`,
                'hosts',
              );
            }
            await deleteHosts(tx, macs);
            await audit(tx, caller.name, 'host.bulk-delete', null, { ...target, names: rows.length <= AUDIT_NAMED ? rows.map(label) : undefined });
            return { action: body.action, hosts: macs, before };
          }
          case 'wake': {
            if (!deps.config.wake) throw new HttpError(409, WAKE_OFF);
            const targets = rows.flatMap((h) => {
              const address = wakeAddressOf(h.mac, h.inventory);
              return address ? [{ mac: h.mac, address }] : [];
            });
            const notWoken = rows.filter((h) => !targets.some((t) => t.mac === h.mac)).map(label);
            if (!targets.length) throw new HttpError(409, `no subnet is known for ${names(notWoken)} (none has registered from the network): nobody woken`);
            await audit(tx, caller.name, 'host.bulk-wake', null, { ...target, perSecond: DEFAULT_WAKE_PER_SECOND });
            return { action: body.action, hosts: targets.map((t) => t.mac), before, notWoken, targets };
          }
        }
      });
      // Packets go once the audit entry is written, paced as a group's wake is.
      if (result.targets) {
        deps.wakes.start(result.targets, { perSecond: DEFAULT_WAKE_PER_SECOND, port: deps.config.wakePort });
        const { targets: _sent, ...answer } = result;
        return answer;
      }
      return result;
    },
  );
}
