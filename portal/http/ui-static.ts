/**
 * Serves the built web UI (portal/ui, built by vite into dist/portal/ui) from the portal's own port,
 * so a lab needs no second web server. The UI routes with the URL's hash, but any path without a
 * file extension still answers index.html so a bookmarked or mistyped page lands in the app.
 */
import { existsSync } from 'node:fs';
import { STATUS_CODES, type IncomingMessage, type ServerResponse } from 'node:http';
import { extname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Middleware } from 'koa';
import send from 'send';

/** Paths that belong to the API, the PXE boot files and the probes, never to the UI. */
const NOT_UI = /^\/(?:api|boot|healthz|metrics)(?:\/|$)/;
const INDEX = '/index.html';
// vite puts a content hash in every name under assets/, so a name never changes meaning.
const ASSET_CACHE = 'public, max-age=31536000, immutable';
// index.html names the current hashes: it must be revalidated on every load.
const PAGE_CACHE = 'no-cache';

/** Where the build puts the UI: `ui` next to the compiled module (dist/portal/ui). */
export function defaultUiDir(): string {
  return fileURLToPath(new URL('../ui', import.meta.url));
}

export function uiMiddleware(dir: string): Middleware {
  const root = resolve(dir);
  return async (ctx, next) => {
    if ((ctx.method !== 'GET' && ctx.method !== 'HEAD') || NOT_UI.test(ctx.path)) return void (await next());
    // Checked on every request, not once, so building the UI needs no portal restart.
    if (!existsSync(join(root, 'index.html'))) {
      ctx.status = 503;
      ctx.body = { error: 'the web UI is not built (npm run build)' };
      return;
    }
    ctx.respond = false;
    await serve(ctx.req, ctx.res, root, ctx.path);
  };
}

/** Streams `path` under `root` and resolves once the response is over, however it ended. */
function serve(req: IncomingMessage, res: ServerResponse, root: string, path: string): Promise<void> {
  return new Promise((done) => {
    res.once('close', () => done());
    const fail = (status: number): void => {
      if (res.headersSent) {
        res.destroy();
        return;
      }
      res.statusCode = status;
      res.setHeader('Content-Type', 'application/json; charset=utf-8');
      // send's own messages name the file on disk; the status text says enough.
      res.end(JSON.stringify({ error: status === 404 ? `no such file in the web UI: ${path}` : (STATUS_CODES[status] ?? 'error') }));
    };
    const start = (file: string, spa: boolean): void => {
      // Koa starts every response as 404; send only sets the status for 206, 304 and errors.
      res.statusCode = 200;
      send(req, file, { root, index: false, dotfiles: 'deny', cacheControl: false })
        .on('headers', (r: ServerResponse) => r.setHeader('Cache-Control', file.startsWith('/assets/') ? ASSET_CACHE : PAGE_CACHE))
        .on('directory', () => (spa ? start(INDEX, false) : fail(404)))
        .on('error', (err: Error & { status?: number }) => (err.status === 404 && spa ? start(INDEX, false) : fail(err.status ?? 500)))
        .pipe(res);
    };
    start(path, extname(path) === '');
  });
}
