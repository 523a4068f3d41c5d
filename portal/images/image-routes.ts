/**
 * The image catalog (one entry per name, with what FOG and image registries keep about it), its
 * published versions, a ticket for deploying one by hand (`shoal deploy --portal`), and a standard
 * .torrent with a fresh key in its announce URL (`shoal torrent`), for any client.
 */
import { randomBytes } from 'node:crypto';
import bencode from 'bencode';
import { z } from 'zod';
import { API } from '../../shared/http/api.js';
import { IMAGE_TYPES } from '../../shared/image/manifest.js';
import { IMAGE_NAME_PATTERN } from '../../shared/image/image-name.js';
import { HttpError, notFound } from '../../shared/http/errors.js';
import type { ApiRouter } from '../http/api-router.js';
import { ImageListSchema, ImageSchema, ImageUsesSchema, ImageVerifySchema, SwarmStatsSchema, SwarmTicketSchema } from '../../shared/http/portal-contract.js';
import { audit, changes } from '../db/audit.js';
import { startVerify, verifyStatus } from './image-verify.js';
import { iso } from '../db/times.js';
import type { Caller } from '../access/auth.js';
import type { PortalDeps } from '../deps.js';
import { announceUrls, issueKey, nodesHolding, makeTicket } from './tickets.js';
import {
  approveVersion,
  dropTombstone,
  findImage,
  holdings,
  hostsAssigned,
  markPurged,
  imageInfo,
  imageInfos,
  imageNames,
  imageUses,
  imageVersion,
  imageVersions,
  insertImageInfo,
  maySee,
  updateImageInfo,
} from './image-store.js';
import { findUser } from '../users/user-store.js';
import { keyedWebSeed } from '../../shared/keys/swarm-key.js';

/** What an edit may set: retired takes an image out of new work, public or private brings it back. */
const ACCESS = ['public', 'private', 'retired'] as const;
const tags = z.array(z.string().trim().min(1).max(40)).max(20);
const NewImage = z
  .object({
    name: z
      .string()
      .regex(IMAGE_NAME_PATTERN, 'letters, digits and . _ - (at most 128), starting with a letter or digit')
      .refine((n) => !n.includes('..'), 'no ".."'),
    alias: z.string().trim().max(100).optional(),
    description: z.string().max(2000).optional(),
    osType: z.string().trim().max(40).optional(),
    imageType: z.enum(IMAGE_TYPES),
    access: z.enum(['public', 'private']).default('public'),
    tags: tags.default([]),
    /** Whether a deploy gives each PC its own name (and Linux machine-id); default yes. */
    identity: z.boolean().default(true),
  })
  .strict();
const ChangeImage = z
  .object({
    alias: z.string().trim().max(100).nullable().optional(),
    description: z.string().max(2000).nullable().optional(),
    osType: z.string().trim().max(40).nullable().optional(),
    access: z.enum(ACCESS, { error: 'access is public, private or retired (to delete the files, use Delete files)' }).optional(),
    owner: z.string().trim().min(1).max(64).optional(),
    tags: tags.optional(),
    identity: z.boolean().optional(),
  })
  .strict();
const ListQuery = z.object({ deleted: z.enum(['true', 'false']).default('false') });
const VersionBody = z.object({ version: z.number().int().positive().optional() }).strict();
const TorrentQuery = z.object({ version: z.coerce.number().int().positive().optional(), webSeeds: z.enum(['true', 'false']).default('true') });

/** One image as the catalog shows it; not found when the caller may not see it. */
async function describeImage(deps: PortalDeps, caller: Caller, name: string) {
  const [image] = await describeImages(deps, caller, name);
  if (!image) throw notFound(`image ${name}`);
  return image;
}

/** The catalog's entries as the API shows them; a deleted image's tombstone only when asked for (or by name). */
export async function describeImages(deps: PortalDeps, caller: Caller, only?: string, withDeleted = false) {
  const { db } = deps;
  const infos = (await imageInfos(db, only)).filter((r) => maySee(r, caller) && (withDeleted || only !== undefined || r.access !== 'deleted'));
  const versions = await imageVersions(db, only);
  const seenSince = Date.now() - deps.config.nodeTimeoutMs;
  const held = await holdings(db);
  const assigned = await hostsAssigned(db);
  return infos.map((r) => {
    const deleted = r.access === 'deleted';
    const vs = versions
      // Versions of a name deleted before it was made again are not the new image's.
      .filter((v) => v.name === r.name && (deleted || v.purged_ms === null))
      .map((v) => {
        const holders = held
          .filter((h) => h.info_hash === v.info_hash)
          .map((h) => {
            const up = Number(h.last_seen_ms) >= seenSince;
            return { node: h.name, up, lastSeen: iso(Number(h.last_seen_ms)), state: v.purged_ms !== null ? 'purging' : up ? 'holds' : 'down' } as const;
          });
        return {
          /** Captured by a PC and not yet let through by an admin: deploys do not pick it unless named. */
          awaitingReview: v.review_since_ms !== null,
          version: v.version,
          infoHash: v.info_hash,
          sizeBytes: v.size_bytes === null ? null : Number(v.size_bytes),
          rawBytes: v.raw_bytes === null || v.raw_bytes === undefined ? null : Number(v.raw_bytes),
          minDiskBytes: v.min_disk_bytes === null ? null : Number(v.min_disk_bytes),
          createdAt: iso(v.created_ms),
          nodes: deleted ? [] : holders.filter((h) => h.up).map((h) => h.node),
          holders,
        };
      });
    const latest = vs.at(-1);
    return {
      name: r.name,
      alias: r.alias,
      description: r.description,
      osType: r.os_type,
      imageType: r.image_type,
      owner: r.owner,
      access: r.access,
      status: r.status,
      tags: JSON.parse(r.tags) as string[],
      identity: Boolean(r.set_identity),
      sizeBytes: latest?.sizeBytes ?? null,
      minDiskBytes: latest?.minDiskBytes ?? null,
      hostsAssigned: assigned.get(r.name) ?? 0,
      createdAt: iso(r.created_ms),
      /** When it was retired or deleted. */
      accessChangedAt: r.access_ms ? iso(Number(r.access_ms)) : null,
      accessBefore: r.access_before ?? null,
      versions: vs,
      /** The storage nodes up and holding the newest version. */
      nodes: latest?.nodes ?? [],
    };
  });
}

/** "pc-1, pc-2 and 3 more": hosts by name (a MAC only for a host with no name). */
function hostList(hosts: Array<{ mac: string; name: string | null }>): string {
  const names = hosts.map((h) => h.name ?? h.mac);
  return names.length > 5 ? `${names.slice(0, 5).join(', ')} and ${names.length - 5} more` : names.join(', ');
}

export function imageRoutes(api: ApiRouter, deps: PortalDeps): void {
  const { db } = deps;

  api.add(
    {
      method: 'get',
      path: `${API}/images`,
      summary: 'The image catalog with every published version (deleted=true: with the tombstones of deleted images)',
      tag: 'images',
      access: 'read',
      query: ListQuery,
      response: ImageListSchema,
    },
    async (_ctx, { caller, query }) => ({
      images: await describeImages(deps, caller, undefined, query.deleted === 'true'),
    }),
  );

  api.add(
    { method: 'get', path: `${API}/images/:name`, summary: 'One image', tag: 'images', access: 'read', response: ImageSchema },
    async (_ctx, { params, caller }) => {
      const [image] = await describeImages(deps, caller, params.name);
      if (!image) throw notFound(`image ${params.name}`);
      return image;
    },
  );

  api.add(
    {
      method: 'post',
      path: `${API}/images`,
      summary: 'Add an image to the catalog (pending until a capture of it is published)',
      tag: 'images',
      access: 'images',
      body: NewImage,
      status: 201,
      response: ImageSchema,
    },
    async (_ctx, { body, caller }) => {
      await db.transaction(async (tx) => {
        const existing = await imageInfo(tx, body.name);
        if (existing && existing.access !== 'deleted') throw new HttpError(409, `image ${body.name} exists`, 'name');
        if (existing) await dropTombstone(tx, body.name);
        await insertImageInfo(tx, {
          name: body.name,
          alias: body.alias ?? null,
          description: body.description ?? null,
          os_type: body.osType ?? null,
          image_type: body.imageType,
          owner: caller.name,
          access: body.access,
          status: 'pending',
          tags: JSON.stringify(body.tags),
          set_identity: body.identity,
          created_ms: Date.now(),
        });
        await audit(tx, caller.name, 'image.create', body.name, { imageType: body.imageType, access: body.access });
      });
      return await describeImage(deps, caller, body.name);
    },
  );

  api.add(
    {
      method: 'patch',
      path: `${API}/images/:name`,
      summary:
        "Change an image's alias, description, OS type, owner, tags, access (retired: out of new tasks and host assignment, kept on disk; public or private: back in use) or whether deploys give each PC its own name (identity)",
      tag: 'images',
      access: 'images',
      body: ChangeImage,
      response: ImageSchema,
    },
    async (_ctx, { body, params, caller }) => {
      await db.transaction(async (tx) => {
        const row = await imageInfo(tx, params.name!);
        if (!row || !maySee(row, caller)) throw notFound(`image ${params.name}`);
        if (row.access === 'deleted')
          throw new HttpError(409, `image ${row.name} was deleted: its files are gone, so it cannot be changed (make it again with Create image)`);
        if (body.owner !== undefined && body.owner !== row.owner && !(await findUser(tx, body.owner)))
          throw new HttpError(400, `there is no user ${body.owner}`, 'owner');
        const retiring = body.access === 'retired' && row.access !== 'retired';
        const change = {
          ...(body.alias !== undefined && { alias: body.alias }),
          ...(body.description !== undefined && { description: body.description }),
          ...(body.osType !== undefined && { os_type: body.osType }),
          ...(body.owner !== undefined && { owner: body.owner }),
          ...(body.access && { access: body.access }),
          ...(body.tags && { tags: JSON.stringify(body.tags) }),
          ...(body.identity !== undefined && { set_identity: body.identity }),
        };
        await updateImageInfo(tx, row.name, {
          ...change,
          ...(retiring && { access_before: row.access, access_ms: Date.now() }),
          ...(body.access && body.access !== 'retired' && { access_before: null, access_ms: null }),
        });
        const action = retiring ? 'image.retire' : row.access === 'retired' && body.access && body.access !== 'retired' ? 'image.restore' : 'image.update';
        await audit(tx, caller.name, action, row.name, changes<Record<string, unknown>>({ ...row }, change));
      });
      return await describeImage(deps, caller, params.name!);
    },
  );

  api.add(
    {
      method: 'get',
      path: `${API}/images/:name/uses`,
      summary: 'The hosts assigned to an image and the tasks not over that use it (what stops its files being deleted)',
      tag: 'images',
      access: 'read',
      response: ImageUsesSchema,
    },
    async (_ctx, { params, caller }) => {
      const row = await imageInfo(db, params.name!);
      if (!row || !maySee(row, caller)) throw notFound(`image ${params.name}`);
      return await imageUses(db, row.name);
    },
  );

  // Deleting purges the image's files: every version is marked purged, the trackers stop admitting
  // its swarms, and each storage node holding a copy is told at its next report to stop seeding
  // it and remove its folder (seeder/purge.ts). A tombstone stays in the catalog (GET
  // /images?deleted=true), so the nodes still to report are told, and a reload shows what the
  // click did. An image a host is assigned to or a task not over uses cannot be deleted.
  api.add(
    {
      method: 'delete',
      path: `${API}/images/:name`,
      summary: "Delete an image's files from every store (refused while a host or a task not over uses it)",
      tag: 'images',
      access: 'images',
      response: 'empty',
    },
    async (_ctx, { params, caller }) => {
      await db.transaction(async (tx) => {
        const row = await imageInfo(tx, params.name!);
        if (!row || !maySee(row, caller)) throw notFound(`image ${params.name}`);
        if (row.access === 'deleted') throw new HttpError(409, `image ${row.name} was already deleted`);
        const u = await imageUses(tx, row.name);
        if (u.hosts.length || u.tasks.length || u.schedules.length) {
          const why = [
            u.hosts.length ? `${u.hosts.length === 1 ? 'host' : 'hosts'} ${hostList(u.hosts)} ${u.hosts.length === 1 ? 'is' : 'are'} assigned to it` : '',
            u.tasks.length ? `${u.tasks.map((t) => `task ${t.id} (${t.kind}, ${t.state})`).join(', ')} ${u.tasks.length === 1 ? 'uses' : 'use'} it` : '',
            u.schedules.length ? `${u.schedules.length === 1 ? 'schedule' : 'schedules'} ${u.schedules.map((sch) => sch.name).join(', ')} will deploy it` : '',
          ]
            .filter(Boolean)
            .join(', and ');
          const fix = [
            u.hosts.length ? 'give those hosts another image' : '',
            u.tasks.length ? 'wait for the task to finish or cancel it' : '',
            u.schedules.length ? 'turn the schedule off or delete it' : '',
          ]
            .filter(Boolean)
            .join(' and ');
          throw new HttpError(409, `image ${row.name} cannot be deleted: ${why}. First ${fix}, or retire the image instead (it stays on disk).`);
        }
        await markPurged(tx, row, Date.now());
        await audit(tx, caller.name, 'image.delete', row.name, { access: row.access, purged: 'files removed from every storage node at its next report' });
      });
    },
  );

  api.add(
    {
      method: 'post',
      path: `${API}/images/:name/versions/:version/verify`,
      summary: "Check a version's pieces on every storage node holding it against the torrent's SHA-1s (runs in the background: GET it for progress)",
      tag: 'images',
      access: 'images',
      response: ImageVerifySchema,
    },
    async (_ctx, { params, caller }) => startVerify(deps, await visibleVersion(deps, caller, params.name!, params.version!)),
  );

  api.add(
    {
      method: 'get',
      path: `${API}/images/:name/versions/:version/verify`,
      summary: "The last or running check of a version's pieces",
      tag: 'images',
      access: 'read',
      response: ImageVerifySchema,
    },
    async (_ctx, { params, caller }) => {
      const row = await visibleVersion(deps, caller, params.name!, params.version!);
      return verifyStatus(row.info_hash, row.version);
    },
  );

  // Swarm stats from every tracker, per image: seeders, leechers, completed (summed over trackers).
  api.add(
    {
      method: 'get',
      path: `${API}/swarms`,
      summary: "Every tracker's swarms: seeders, leechers, completed",
      tag: 'images',
      access: 'read',
      response: SwarmStatsSchema,
    },
    async () => {
      const byHash = new Map<string, { infoHash: string; seeders: number; leechers: number; completed: number }>();
      const unreachable: string[] = [];
      await Promise.all(
        deps.config.trackers.map(async (t) => {
          try {
            const res = await fetch(`${t.replace(/\/+$/, '')}/swarms`, { signal: AbortSignal.timeout(5_000) });
            for (const s of ((await res.json()) as { swarms: Array<{ infoHash: string; seeders: number; leechers: number; completed: number }> }).swarms) {
              const sum = byHash.get(s.infoHash) ?? { infoHash: s.infoHash, seeders: 0, leechers: 0, completed: 0 };
              sum.seeders += s.seeders;
              sum.leechers += s.leechers;
              sum.completed += s.completed;
              byHash.set(s.infoHash, sum);
            }
          } catch {
            unreachable.push(t);
          }
        }),
      );
      const names = new Map((await imageNames(db)).map((r) => [r.info_hash, r]));
      return {
        swarms: [...byHash.values()].map((s) => ({ image: names.get(s.infoHash)?.name ?? null, version: names.get(s.infoHash)?.version ?? null, ...s })),
        unreachableTrackers: unreachable,
      };
    },
  );

  api.add(
    {
      method: 'post',
      path: `${API}/images/:name/versions/:version/approve`,
      summary: 'Let a captured version through: deploys pick it from now on',
      tag: 'images',
      access: 'images',
      response: ImageSchema,
    },
    async (_ctx, { params, caller }) => {
      const version = Number(params.version);
      if (!Number.isSafeInteger(version) || version < 1) throw new HttpError(400, `"${params.version}" is not a version`);
      await db.transaction(async (tx) => {
        const row = await imageVersion(tx, params.name!, version);
        if (!row) throw notFound(`image ${params.name} v${version}`);
        if (row.review_since_ms === null) throw new HttpError(409, `image ${params.name} v${version} is not waiting for review`);
        await approveVersion(tx, row.info_hash);
        await audit(tx, caller.name, 'image.approve', params.name!, { version });
      });
      return await describeImage(deps, caller, params.name!);
    },
  );

  api.add(
    {
      method: 'post',
      path: `${API}/images/:name/ticket`,
      summary: 'A swarm ticket for deploying by hand (shoal deploy --portal)',
      tag: 'images',
      access: 'images',
      body: VersionBody.optional(),
      response: SwarmTicketSchema,
    },
    async (_ctx, { body, params, caller }) => {
      const image = await findImage(deps.db, params.name!, body?.version, caller);
      const { key, expiresMs } = issueKey(deps, image.info_hash, `cli-${randomBytes(6).toString('hex')}`);
      return makeTicket(deps, image, key, expiresMs);
    },
  );

  api.add(
    {
      method: 'get',
      path: `${API}/images/:name/torrent`,
      summary: 'A .torrent with a fresh key, for any BitTorrent client',
      tag: 'images',
      access: 'images',
      query: TorrentQuery,
      responseType: 'application/x-bittorrent',
      response: 'raw',
    },
    async (ctx, { query, params, caller }) => {
      const image = await findImage(deps.db, params.name!, query.version, caller);
      const { key } = issueKey(deps, image.info_hash, `torrent-${randomBytes(6).toString('hex')}`);
      const announce = announceUrls(deps, key);
      if (!announce.length) throw new HttpError(409, 'the portal knows no tracker (start it with --tracker URL)');
      const nodes = await nodesHolding(deps, image.info_hash);
      // The info dictionary is untouched, so the infohash is the image's.
      const t = bencode.decode(Buffer.from(image.torrent)) as Record<string, unknown>;
      t.announce = announce[0];
      t['announce-list'] = announce.map((a) => [a]);
      if (query.webSeeds === 'true') t['url-list'] = nodes.map((n) => keyedWebSeed(n.http_url, key, image.name));
      ctx.type = 'application/x-bittorrent';
      ctx.attachment(`${image.name}-v${image.version}.torrent`);
      ctx.body = Buffer.from(bencode.encode(t));
    },
  );
}

/** A version of an image the caller may see, its files not purged. */
async function visibleVersion(deps: PortalDeps, caller: Caller, name: string, given: string) {
  const version = Number(given);
  if (!Number.isSafeInteger(version) || version < 1) throw new HttpError(400, `"${given}" is not a version`);
  const info = await imageInfo(deps.db, name);
  if (!info || !maySee(info, caller)) throw notFound(`image ${name}`);
  const row = await imageVersion(deps.db, name, version);
  if (!row) throw notFound(`image ${name} v${version}`);
  if (row.purged_ms !== null && row.purged_ms !== undefined) throw new HttpError(409, `image ${name} v${version} was deleted: its files are gone`);
  return row;
}
