/** The portal's HTTP server: the Koa app with every API route and the web UI, on one port. */
import type { ChildProcess } from 'node:child_process';
import Koa from 'koa';
import Router from '@koa/router';
import { bodyParser } from '@koa/bodyparser';
import { logger } from '../shared/log.js';
import { listenOnePort } from './http/one-port.js';
import { portalTls } from './http/tls.js';
import { adminOverTls } from './http/admin-over-tls.js';
import { errorMiddleware, HttpError, logAppErrors } from '../shared/http/errors.js';
import { openDb } from './db/open.js';
import { portalConfig, type PortalConfig } from './config.js';
import type { TaskDeps } from './tasks/task-deps.js';
import { ApiRouter } from './http/api-router.js';
import { OpenApiSchema } from '../shared/http/portal-contract.js';
import { ensureFirstAdmin, logins } from './access/auth.js';
import { API } from '../shared/http/api.js';
import { LiveTasks } from './tasks/live-tasks.js';
import { ReportCache } from './tasks/report-cache.js';
import { ProofChallenges } from './tasks/proof-challenges.js';
import { openClusterBus } from './db/cluster-bus.js';
import { shareNodeReports } from './nodes/node-reports.js';
import { defaultUiDir, uiMiddleware } from './http/ui-static.js';
import { checkBootFiles, interfaceAddress, startDnsmasq } from './boot/pxe.js';
import { bootRoutes, syncBootHosts } from './boot/boot-routes.js';
import { hostRoutes } from './hosts/host-routes.js';
import { groupRoutes } from './hosts/group-routes.js';
import { hostCsvRoutes } from './hosts/host-csv.js';
import { registerRoutes } from './hosts/host-register.js';
import { imageRoutes } from './images/image-routes.js';
import { nodeRoutes } from './nodes/node-routes.js';
import { nodeJobRoutes } from './nodes/node-job-routes.js';
import { siteKeyRoutes } from './images/site-key-routes.js';
import { taskRoutes } from './tasks/task-routes.js';
import { pcTaskRoutes } from './tasks/pc-routes.js';
import { dashboardRoutes } from './tasks/dashboard.js';
import { activateDueTasks } from './tasks/task-start.js';
import { Wakes } from './hosts/wake.js';
import { runDueSchedules, scheduleRoutes } from './tasks/schedules.js';
import { userRoutes } from './users/user-routes.js';

const log = logger('portal');
const SCHEDULE_CHECK_MS = 5_000;
/** A PC on the GRUB path finds its file this soon after its task is made. */
const GRUB_SYNC_MS = 2_000;
/** Bodies are small JSON; a CSV of 5000 hosts is well under this. */
const BODY_LIMIT = '1mb';

/**
 * What every answer carries for the admin's browser: no MIME sniffing, no framing (clickjacking),
 * no referrer leaving the portal, and a content policy that lets the UI load only its own files.
 */
async function securityHeaders(ctx: Koa.Context, next: Koa.Next): Promise<void> {
  ctx.set('X-Content-Type-Options', 'nosniff');
  ctx.set('X-Frame-Options', 'DENY');
  ctx.set('Referrer-Policy', 'no-referrer');
  ctx.set(
    'Content-Security-Policy',
    "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
  );
  await next();
}

export interface Portal {
  url: string;
  port: number;
  config: PortalConfig;
  /** HTTPS on the same port, for admins (none with tls off). */
  tlsUrl?: string;
  /** The first admin, when this start made one with a random password (to be printed once); the certificate. */
  said: { firstAdmin?: { name: string; password?: string }; tls?: { url: string; fingerprint: string; certFile: string; made: boolean } };
  close: () => Promise<void>;
}

export async function startPortal(given: Partial<PortalConfig> & { dataDir: string }): Promise<Portal> {
  const config = portalConfig(given);
  if (config.pxe) checkBootFiles(config.bootDir);
  const tls = config.tls
    ? await portalTls(
        config.dataDir,
        config.tlsCert ? { certFile: config.tlsCert, keyFile: config.tlsKey! } : undefined,
        config.publicUrl ? [new URL(config.publicUrl).hostname] : [],
      )
    : undefined;
  const db = await openDb(config.database);
  const firstAdmin = await ensureFirstAdmin(db, config.adminToken);
  // Several portals on one PostgreSQL database tell each other what they keep in memory.
  const bus = await openClusterBus(config.database, config.secret);
  const unshareNodeReports = shareNodeReports(db, bus);
  const deps: TaskDeps = {
    db,
    config,
    live: new LiveTasks(bus),
    reports: new ReportCache(db, bus),
    wakes: new Wakes(),
    proofs: new ProofChallenges(bus),
  };
  const app = new Koa();
  app.proxy = false;
  logAppErrors(app, 'portal');
  const router = new Router();
  const api = new ApiRouter(router, db);
  userRoutes(api, deps);
  groupRoutes(api, deps);
  hostRoutes(api, deps);
  hostCsvRoutes(api, deps);
  registerRoutes(api, deps);
  imageRoutes(api, deps);
  nodeRoutes(api, deps);
  nodeJobRoutes(api, deps);
  siteKeyRoutes(api, deps);
  taskRoutes(api, deps);
  pcTaskRoutes(api, deps);
  dashboardRoutes(api, deps);
  scheduleRoutes(api, deps);
  bootRoutes(api, deps);
  api.add({ method: 'get', path: '/healthz', summary: 'Liveness', tag: 'meta', access: 'public', response: 'raw', responseType: 'text/plain' }, async (ctx) => {
    ctx.type = 'text/plain';
    ctx.body = 'ok\n';
  });
  api.add({ method: 'get', path: '/api/openapi.json', summary: 'This document', tag: 'meta', access: 'public', response: OpenApiSchema }, async () =>
    api.openapi(),
  );
  app
    .use(errorMiddleware())
    .use(securityHeaders)
    .use(adminOverTls(!!tls))
    .use(async (ctx, next) => {
      if (ctx.method === 'POST' && ctx.path === `${API}/session`) {
        try {
          logins.checkAddress(ctx.ip);
        } catch (err) {
          ctx.set('Retry-After', String((err as { retryAfterSeconds: number }).retryAfterSeconds));
          await logins.slowRefusal(err);
          throw err;
        }
      }
      await next();
    })
    .use(bodyParser({ jsonLimit: BODY_LIMIT, textLimit: BODY_LIMIT, enableTypes: ['json', 'text'], extendTypes: { text: ['text/csv'] } }))
    .use(router.routes())
    .use(router.allowedMethods())
    .use(uiMiddleware(config.uiDir ?? defaultUiDir()))
    .use(async (ctx) => {
      // Past every route: the API's one error shape for a path nothing serves.
      throw new HttpError(404, `no such route: ${ctx.method} ${ctx.path} (see /api/openapi.json)`);
    });
  const scheduler = setInterval(() => {
    void activateDueTasks(deps).catch((err) => log.warn({ err }, 'scheduled tasks'));
    void runDueSchedules(deps).catch((err) => log.warn({ err }, 'recurring schedules'));
  }, SCHEDULE_CHECK_MS);
  const { port, url, tlsUrl, close } = await listenOnePort(app.callback(), tls, config.port, config.host);
  log.info({ url, ...(tls && { tlsUrl, fingerprint: tls.fingerprint }), database: config.database.replace(/\/\/[^@]*@/, '//***@') }, 'portal listening');
  let dnsmasq: ChildProcess | undefined;
  let grubSync: NodeJS.Timeout | undefined;
  if (config.pxe) {
    try {
      const portalUrl = config.publicUrl ?? `http://${interfaceAddress(config.pxe.interface).address}:${port}`;
      dnsmasq = await startDnsmasq({ ...config.pxe, portalUrl, bootDir: config.bootDir, dataDir: config.dataDir });
      const sync = () => void syncBootHosts(deps, portalUrl).catch((err) => log.warn({ err }, 'boot files of the PCs with a task'));
      sync();
      grubSync = setInterval(sync, GRUB_SYNC_MS);
      // The PCs cannot boot without it: the portal goes down with it, and `shoal start` says so.
      dnsmasq.once('exit', (code, signal) => {
        log.error({ code, signal }, 'dnsmasq exited: network boot is down');
        process.exitCode = 1;
        process.kill(process.pid, 'SIGTERM');
      });
    } catch (err) {
      await close();
      throw err;
    }
  }
  return {
    url,
    port,
    config,
    ...(tlsUrl && { tlsUrl }),
    said: {
      ...(firstAdmin && { firstAdmin }),
      ...(tls && tlsUrl && { tls: { url: tlsUrl, fingerprint: tls.fingerprint, certFile: tls.certFile, made: tls.made } }),
    },
    close: async () => {
      clearInterval(scheduler);
      clearInterval(grubSync);
      dnsmasq?.removeAllListeners('exit');
      dnsmasq?.kill('SIGTERM');
      deps.live.close();
      await deps.wakes.close();
      await close();
      await deps.reports.close();
      unshareNodeReports();
      await bus.close();
      await db.destroy();
    },
  };
}
