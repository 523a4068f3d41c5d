/**
 * The seeder's HTTP side. GET /k/KEY/images/NAME/vN/FILE serves a published image's files as they
 * lie in the store, with Range requests, to a holder of a key for that image: the BEP 19 web seed
 * that fills in pieces no peer has (the torrent is named "vN", so /k/KEY/images/NAME/ is the web
 * seed's URL), the unicast transport, and what the portal reads manifests and torrents from. Only
 * the files a manifest names are served.
 */
import { createServer, type Server } from 'node:http';
import Koa from 'koa';
import Router from '@koa/router';
import send from 'send';
import { MANIFEST_FILE, TORRENT_FILE, pieceFileName, type Manifest } from '../shared/image/manifest.js';
import type { PeerAdmission } from './admission.js';
import { imageVersions, openImage } from '../shared/image/store.js';
import type { SiteKeys } from './site-keys.js';
import { ShoalError } from '../shared/errors.js';
import type { SeededImage, Seeder } from './seed-store.js';
import type { SeederMetrics } from './metrics.js';
import { bodyParser } from '@koa/bodyparser';
import { checkSwarmKey, uploadKeyScope } from '../shared/keys/swarm-key.js';
import { HttpError, errorMiddleware, logAppErrors } from '../shared/http/errors.js';
import { bearer, listen, type Listening } from '../shared/http/server.js';
import { MAX_PIECE_BYTES, openUpload, publishUpload, putPiece, uploadVersion } from './uploads.js';

export type SeederHttp = Listening;

const VERSION = /^v([1-9][0-9]*)$/;
/** A request with the route's parameters (@koa/router fills them in). */
type Ctx = Koa.Context & { params: Record<string, string | undefined> };

export async function startSeederHttp(opts: {
  store: string;
  secret: string;
  seeder: Seeder;
  metrics: SeederMetrics;
  rescan: () => Promise<SeededImage[]>;
  port?: number;
  host?: string;
  admission?: PeerAdmission;
  /** The read keys this site issued others (site-keys.ts); none: no site key is honoured. */
  siteKeys?: SiteKeys;
}): Promise<SeederHttp> {
  const app = new Koa();
  logAppErrors(app, 'seeder');
  const router = new Router();
  // A ShoalError on a GET is a missing image or file (404); on anything else, bad input (400).
  app.use(errorMiddleware((ctx) => (ctx.method === 'GET' ? 404 : 400)));

  // Every read shows a key for the image, in the path (web seed URLs are the only place a standard
  // BitTorrent client carries one) or as a bearer token; it also opens the BitTorrent port to the
  // reader's address (admission.ts).
  const keyedImage = async (ctx: Ctx): Promise<{ dir: string; manifest: Manifest }> => {
    const { name } = ctx.params as Record<string, string>;
    const v = VERSION.exec(ctx.params.version ?? '');
    if (!v) throw new ShoalError(`no version "${ctx.params.version}": versions are v1, v2, ...`);
    const key = ctx.params.key ?? bearer(ctx);
    if (!key) throw new HttpError(401, `image reads need a key: ask the portal for a ticket, a task or a .torrent (GET /k/KEY/images/${name}/v${v[1]}/FILE)`);
    const image = await openImage(opts.store, name!, Number(v[1]));
    const check = checkSwarmKey(opts.secret, image.manifest.infoHash, key);
    if (!check.ok) {
      // Another site pulling with the read key this site issued it (site-keys.ts): HTTP reads only,
      // so it opens nothing on the BitTorrent port.
      const site = opts.siteKeys?.check(image.manifest.name, image.manifest.infoHash, key);
      if (site?.ok) return image;
      if (site?.status === 403) throw new HttpError(403, `image ${name} v${v[1]}: ${site.reason}`);
      throw new HttpError(401, `image ${name} v${v[1]}: ${check.reason}`);
    }
    opts.admission?.admit(image.manifest.infoHash, ctx.ip, check.expiresAt);
    return image;
  };
  const serveFile = async (ctx: Ctx): Promise<void> => {
    const { file } = ctx.params as Record<string, string>;
    const { dir, manifest } = await keyedImage(ctx);
    const served = new Set([MANIFEST_FILE, TORRENT_FILE, ...manifest.disks.flatMap((d) => d.areas.map(pieceFileName))]);
    if (!served.has(file!)) throw new ShoalError(`image ${manifest.name} v${manifest.version} has no file "${file}"`);
    ctx.respond = false;
    const res = ctx.res;
    // Koa starts every response as 404; send only changes it for 206, 304 and errors.
    res.statusCode = 200;
    const isPiece = file !== MANIFEST_FILE && file !== TORRENT_FILE;
    res.on('finish', () => {
      // The portal's reads for a PC's proof (portal/tasks/proof.ts) are not what PCs were served.
      if (isPiece && ctx.get('x-shoal-proof')) opts.metrics.readForProof(manifest.name, manifest.version, Number(res.getHeader('content-length') ?? 0));
      else if (isPiece) opts.metrics.servedOverHttp(manifest.name, manifest.version, Number(res.getHeader('content-length') ?? 0));
    });
    send(ctx.req, file!, { root: dir, dotfiles: 'deny', index: false })
      .on('error', (err: Error & { status?: number }) => {
        res.statusCode = err.status ?? 500;
        res.end(err.message);
      })
      .pipe(res);
  };
  router.get('/k/:key/images/:name/:version/:file', serveFile);
  // The versions of an image a site key opens (newest last): where another site's pull finds the newest.
  router.get('/k/:key/images/:name', async (ctx) => {
    const name = ctx.params.name!;
    const versions: Array<{ version: number; infoHash: string }> = [];
    let refused: { status: number; reason: string } | undefined;
    for (const version of await imageVersions(opts.store, name)) {
      const { manifest } = await openImage(opts.store, name, version);
      const site = opts.siteKeys?.check(manifest.name, manifest.infoHash, ctx.params.key!);
      if (site?.ok) versions.push({ version, infoHash: manifest.infoHash });
      else if (site && (!refused || site.status === 403)) refused = site;
    }
    if (!versions.length && refused) throw new HttpError(refused.status, `image ${name}: ${refused.reason}`);
    if (!versions.length) throw new HttpError(404, `no image "${name}" here`);
    ctx.body = { versions };
  });
  router.get('/images/:name/:version/:file', serveFile);
  // A Shoal client knocks before it connects to the BitTorrent port: no tracker needed.
  router.post('/k/:key/images/:name/:version/admit', async (ctx) => {
    await keyedImage(ctx);
    ctx.status = 204;
  });
  // Captures over the network (uploads.ts); a PC shows the upload key its capture task gave it,
  // which is for one image and version. The key is checked before any piece or manifest is read.
  const keyFor = (ctx: Ctx, version: number): void => {
    const check = checkSwarmKey(opts.secret, uploadKeyScope(ctx.params.name ?? '', version), bearer(ctx));
    if (!check.ok)
      throw new HttpError(
        401,
        `upload refused: ${check.reason === 'swarm key not valid for this image' ? `the key is not for ${ctx.params.name} v${version}` : check.reason}`,
      );
  };
  const uploader = async (ctx: Ctx, next: Koa.Next): Promise<void> => {
    if (!bearer(ctx)) throw new HttpError(401, 'upload refused: no upload key (a capture task gives one)');
    const p = ctx.params as Record<string, string>;
    if (p.imageId)
      keyFor(
        ctx,
        await uploadVersion(opts.store, p.name!, p.imageId).catch((err: Error) => {
          throw new HttpError(404, err.message);
        }),
      );
    await next();
  };
  router.post('/uploads/:name', uploader, bodyParser({ jsonLimit: '64kb' }), async (ctx) => {
    const body = (ctx.request.body ?? {}) as { pieceLength?: unknown; imageId?: unknown; version?: unknown };
    if (!Number.isSafeInteger(body.version) || (body.version as number) < 1)
      throw new HttpError(400, 'an upload names the version the portal assigned to its capture task (version: a positive integer)');
    const version = body.version as number;
    keyFor(ctx, version);
    const imageId = typeof body.imageId === 'string' ? body.imageId : undefined;
    if (imageId && (await uploadVersion(opts.store, ctx.params.name!, imageId).catch(() => version)) !== version)
      throw new HttpError(409, `upload ${imageId} is not of ${ctx.params.name} v${version}`);
    ctx.body = await openUpload(opts.store, ctx.params.name!, Number(body.pieceLength), imageId, version);
  });
  router.put('/uploads/:name/:imageId/:file/:index', uploader, async (ctx) => {
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const c of ctx.req as AsyncIterable<Buffer>) {
      size += c.length;
      if (size > MAX_PIECE_BYTES) throw new HttpError(413, 'a piece is at most 64 MiB');
      chunks.push(c);
    }
    const p = ctx.params;
    await putPiece(opts.store, p.name!, p.imageId!, p.file!, Number(p.index), ctx.get('x-shoal-sha1'), Buffer.concat(chunks));
    ctx.status = 204;
  });
  router.post('/uploads/:name/:imageId/publish', uploader, bodyParser({ jsonLimit: '64mb' }), async (ctx) => {
    const body = (ctx.request.body ?? {}) as { manifest?: unknown; torrent?: unknown };
    if (typeof body.torrent !== 'string') throw new HttpError(400, 'publish needs { manifest, torrent (base64) }');
    const dir = await publishUpload(opts.store, ctx.params.name!, ctx.params.imageId!, body.manifest, Buffer.from(body.torrent, 'base64'));
    await opts.rescan();
    ctx.body = { published: dir };
  });
  router.get('/images', async (ctx) => {
    ctx.body = { images: opts.seeder.images().map((i) => ({ name: i.name, version: i.version, infoHash: i.infoHash })) };
  });
  router.post('/rescan', async (ctx) => {
    const added = await opts.rescan();
    ctx.body = { added: added.map((i) => ({ name: i.name, version: i.version, infoHash: i.infoHash })) };
  });
  router.get('/metrics', async (ctx) => {
    ctx.type = opts.metrics.contentType;
    ctx.body = await opts.metrics.text();
  });
  router.get('/healthz', (ctx) => {
    ctx.body = 'ok\n';
  });
  app.use(router.routes()).use(router.allowedMethods());

  const handle = app.callback();
  const server: Server = createServer((req, res) => void handle(req, res));
  return listen(server, opts.port, opts.host);
}
