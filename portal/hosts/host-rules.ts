/**
 * What a host is in the portal: its MAC's one spelling, the fields an admin sets and the checks
 * they pass (the group and image exist, the name is free), and the view every host route answers.
 */
import { z } from 'zod';
import { DiskPathSchema, HostNameSchema, MacSchema, type Inventory } from '../../shared/http/api.js';
import { HttpError } from '../../shared/http/errors.js';
import type { Db } from '../db/open.js';
import type { HostRow } from '../db/tables.js';
import { iso } from '../db/times.js';
import { imageInfo } from '../images/image-store.js';
import { findGroup, hostByMac, newestTasks, otherHostNamed, type NewestTask } from './host-store.js';

/** A MAC as the portal stores it: lower case with colons. */
export const normalMac = (mac: string): string => MacSchema.parse(mac).toLowerCase().replace(/-/g, ':');

const hostName = HostNameSchema;
export const NewHost = z
  .object({ mac: MacSchema, name: hostName.optional(), disk: DiskPathSchema.optional(), group: z.string().optional(), image: z.string().optional() })
  .strict();
export const ChangeHost = z
  .object({
    name: hostName.nullable().optional(),
    disk: DiskPathSchema.nullable().optional(),
    group: z.string().nullable().optional(),
    image: z.string().nullable().optional(),
  })
  .strict();

export function hostView(h: HostRow, task: NewestTask | undefined) {
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
export async function checkRefs(tx: Db, h: { group?: string | null; image?: string | null; name?: string | null }, mac: string): Promise<void> {
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

export const hostColumns = (h: { name?: string | null; disk?: string | null; group?: string | null; image?: string | null }) => ({
  ...(h.name !== undefined && { name: h.name }),
  ...(h.disk !== undefined && { disk: h.disk }),
  ...(h.group !== undefined && { group_name: h.group }),
  ...(h.image !== undefined && { image_name: h.image }),
});
