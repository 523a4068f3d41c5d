/** The portal's HTTP server: the Koa app with every API route, on its port. */
import { createServer, type Server } from 'node:http';
import Koa from 'koa';
import Router from '@koa/router';
import { bodyParser } from '@koa/bodyparser';
import { logger } from '../shared/log.js';
import { listen } from '../shared/http-server.js';
import { openDb } from './db.js';
import { portalConfig, type PortalConfig } from './config.js';
import type { PortalDeps } from './deps.js';
import { errorMiddleware } from '../shared/http-errors.js';
import { imageRoutes } from './routes/images.js';
import { nodeRoutes } from './routes/nodes.js';
import { taskRoutes } from './routes/tasks.js';

const log = logger('portal');

export interface Portal {
  url: string;
  port: number;
  config: PortalConfig;
  close(): Promise<void>;
}

export async function startPortal(given: Partial<PortalConfig> & { dataDir: string }): Promise<Portal> {
  const config = portalConfig(given);
  const db = await openDb(config.database);
  const deps: PortalDeps = { db, config };
  const app = new Koa();
  app.proxy = false;
  const router = new Router();
  nodeRoutes(router, deps);
  imageRoutes(router, deps);
  taskRoutes(router, deps);
  router.get('/healthz', (ctx) => {
    ctx.body = 'ok\n';
  });
  app.use(errorMiddleware()).use(bodyParser({ jsonLimit: '1mb' })).use(router.routes()).use(router.allowedMethods());
  const server: Server = createServer(app.callback());
  const { port, url, close } = await listen(server, config.port, config.host);
  log.info({ url, database: config.database }, 'portal listening');
  return {
    url, port, config,
    close: async () => {
      await close();
      await db.destroy();
    },
  };
}
