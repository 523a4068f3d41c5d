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
import { ImageListSchema, ImageSchema, SwarmStatsSchema, SwarmTicketSchema } from '../../shared/http/portal-contract.js';
import { audit } from '../db/audit.js';
import { iso } from '../db/times.js';
import type { Caller } from '../access/auth.js';
import type { PortalDeps } from '../deps.js';
import { announceUrls, issueKey, nodesHolding, makeTicket } from './tickets.js';
import {
  approveVersion,
  findImage,
  hostsAssigned,
  imageInfo,
  imageInfos,
  imageNames,
  imageUses,
  imageVersion,
  imageVersions,
  insertImageInfo,
  liveHoldings,
  maySee,
  updateImageInfo,
} from './image-store.js';
import { keyedWebSeed } from '../../shared/keys/swarm-key.js';

const ACCESS = ['public', 'private', 'deleted'] as const;
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
    access: z.enum(ACCESS).optional(),
    tags: tags.optional(),
    identity: z.boolean().optional(),
  })
  .strict();
const VersionBody = z.object({ version: z.number().int().positive().optional() }).strict();
const TorrentQuery = z.object({ version: z.coerce.number().int().positive().optional(), webSeeds: z.enum(['true', 'false']).default('true') });

/** One image as the catalog shows it; not found when the caller may not see it. */
async function describeImage(deps: PortalDeps, caller: Caller, name: string) {
  const [image] = await describeImages(deps, caller, name);
  if (!image) throw notFound(`image ${name}`);
  return image;
}

export async function describeImages(deps: PortalDeps, caller: Caller, only?: string) {
  const { db } = deps;
  const infos = (await imageInfos(db, only)).filter((r) => maySee(r, caller));
  const versions = await imageVersions(db);
  const live = await liveHoldings(db, Date.now() - deps.config.nodeTimeoutMs);
  const assigned = await hostsAssigned(db);
  return infos.map((r) => {
    const vs = versions
      .filter((v) => v.name === r.name)
      .map((v) => ({
        /** Captured by a PC and not yet let through by an admin: deploys do not pick it unless named. */
        awaitingReview: v.review_since_ms !== null,
        version: v.version,
        infoHash: v.info_hash,
        sizeBytes: v.size_bytes === null ? null : Number(v.size_bytes),
        minDiskBytes: v.min_disk_bytes === null ? null : Number(v.min_disk_bytes),
        createdAt: iso(v.created_ms),
        nodes: live.filter((n) => n.info_hash === v.info_hash).map((n) => n.name),
      }));
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
      versions: vs,
      /** The storage nodes up and holding the newest version. */
      nodes: latest?.nodes ?? [],
    };
  });
}

export function imageRoutes(api: ApiRouter, deps: PortalDeps): void {
  const { db } = deps;

  api.add(
    {
      method: 'get',
      path: `${API}/images`,
      summary: 'The image catalog with every published version',
      tag: 'images',
      access: 'read',
      response: ImageListSchema,
    },
    async (_ctx, { caller }) => ({
      images: await describeImages(deps, caller),
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
        if (await imageInfo(tx, body.name)) throw new HttpError(409, `image ${body.name} exists`);
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
        "Change an image's description, OS type, tags, access (access: deleted marks it deleted) or whether deploys give each PC its own name (identity)",
      tag: 'images',
      access: 'images',
      body: ChangeImage,
      response: ImageSchema,
    },
    async (_ctx, { body, params, caller }) => {
      await db.transaction(async (tx) => {
        const row = await imageInfo(tx, params.name!);
        if (!row || !maySee(row, caller)) throw notFound(`image ${params.name}`);
        await updateImageInfo(tx, row.name, {
          ...(body.alias !== undefined && { alias: body.alias }),
          ...(body.description !== undefined && { description: body.description }),
          ...(body.osType !== undefined && { os_type: body.osType }),
          ...(body.access && { access: body.access }),
          ...(body.tags && { tags: JSON.stringify(body.tags) }),
          ...(body.identity !== undefined && { set_identity: body.identity }),
        });
        await audit(tx, caller.name, 'image.update', row.name, body);
      });
      return await describeImage(deps, caller, params.name!);
    },
  );

  // Deleting takes the image out of use: no new deploys, the trackers stop admitting its swarm,
  // and storage nodes' copies of it are no longer published (an admin may remove them from the
  // stores). An image a host is assigned to or a task uses cannot be deleted.
  api.add(
    { method: 'delete', path: `${API}/images/:name`, summary: 'Delete an image no host or task uses', tag: 'images', access: 'images', response: 'empty' },
    async (_ctx, { params, caller }) => {
      await db.transaction(async (tx) => {
        const row = await imageInfo(tx, params.name!);
        if (!row || !maySee(row, caller)) throw notFound(`image ${params.name}`);
        const u = await imageUses(tx, row.name);
        if (u.hosts || u.tasks.length) {
          const why = [
            u.hosts ? `${u.hosts} host${u.hosts === 1 ? ' is' : 's are'} assigned to it` : '',
            u.tasks.length ? `task ${u.tasks.join(', ')} uses it` : '',
          ]
            .filter(Boolean)
            .join(' and ');
          throw new HttpError(409, `image ${row.name} is in use (${why}): it cannot be deleted, only marked deleted (PATCH access: deleted)`);
        }
        await updateImageInfo(tx, row.name, { access: 'deleted' });
        await audit(tx, caller.name, 'image.delete', row.name);
      });
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
