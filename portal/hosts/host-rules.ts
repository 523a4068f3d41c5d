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
import { findGroup, findHost, hostByMac, newestTasks, otherHostNamed, type ListedHost, type NewestTask } from './host-store.js';

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

/**
 * Why a host's image can no longer be picked, from the image's access (null: the image row is
 * gone): the host keeps naming it, and the UI shows it marked rather than as a blank choice.
 */
export function imageGone(h: Pick<HostRow, 'image_name'>, access: string | null | undefined): 'retired' | 'deleted' | null {
  if (!h.image_name) return null;
  if (access === null || access === undefined || access === 'deleted') return 'deleted';
  return access === 'retired' ? 'retired' : null;
}

export function hostView(h: HostRow, task: NewestTask | undefined, imageAccess?: string | null) {
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
    imageGone: imageGone(h, imageAccess),
  };
}

/** A host as GET /hosts lists it (its newest task and image joined in). */
export const listedHostView = (h: ListedHost) =>
  hostView(
    h,
    h.task_id === null || h.task_kind === null || h.task_state === null ? undefined : { id: h.task_id, kind: h.task_kind, state: h.task_state },
    h.image_access,
  );

export async function describeHost(db: Db, mac: string) {
  const h = await hostByMac(db, mac);
  const image = h.image_name ? await imageInfo(db, h.image_name) : undefined;
  return hostView(h, (await newestTasks(db, [mac])).get(mac), image?.access ?? null);
}

/** Checks what a host refers to, inside the caller's transaction. */
export async function checkRefs(tx: Db, h: { group?: string | null; image?: string | null; name?: string | null }, mac: string): Promise<void> {
  if (h.group && !(await findGroup(tx, h.group))) throw new HttpError(400, `unknown group ${h.group} (create it first)`, 'group');
  if (h.image) {
    const image = await imageInfo(tx, h.image);
    if (!image) throw new HttpError(400, `unknown image ${h.image}`, 'image');
    if (image.access === 'deleted') throw new HttpError(409, `image ${h.image} is deleted`, 'image');
    // A host that has it keeps it (a CSV export imported again); none is given it anew.
    if (image.access === 'retired' && (await findHost(tx, mac))?.image_name !== h.image)
      throw new HttpError(409, `image ${h.image} is retired: bring it back on the Images page first, or pick another`, 'image');
  }
  if (h.name) {
    // The other host by its MAC and where it is, so the admin can find it.
    const other = await otherHostNamed(tx, h.name, mac);
    if (other)
      throw new HttpError(
        409,
        `the name ${h.name} is taken by ${other.mac} (host ${other.name}${other.group_name ? ` in ${other.group_name}` : ''}): pick another name or rename that host first`,
        'name',
      );
  }
}

export const hostColumns = (h: { name?: string | null; disk?: string | null; group?: string | null; image?: string | null }) => ({
  ...(h.name !== undefined && { name: h.name }),
  ...(h.disk !== undefined && { disk: h.disk }),
  ...(h.group !== undefined && { group_name: h.group }),
  ...(h.image !== undefined && { image_name: h.image }),
});
