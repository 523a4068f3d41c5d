/**
 * What plain HTTP may carry. PCs boot and report over it (iPXE cannot do TLS here; everything a PC
 * gets is checked by keys and hashes), but a password, a session cookie or an API token sent over
 * it could be read by anyone on the lab network. So, on plain HTTP and from another machine: a
 * page of the web UI is redirected to HTTPS on the same port, and a login or a request carrying a
 * user's credentials is refused (403), naming the HTTPS URL. A caller on the portal's own machine
 * (the connection's two ends are one address: scripts, a reverse proxy) may use either.
 */
import type { Context, Next } from 'koa';
import { API } from '../../shared/http/api.js';
import { HttpError } from '../../shared/http/errors.js';
import { bearer } from '../../shared/http/server.js';
import { SESSION_COOKIE } from '../access/auth.js';

/** PC and storage-node keys look like this (shared/keys/swarm-key.ts); a user's API token does not. */
const SWARM_KEY = /^[A-Za-z0-9-]{1,64}\.\d+\.[A-Za-z0-9_-]+$/;
const PC_PATHS = /^\/(boot\/|healthz$|api\/openapi\.json$)/;
const HOST = /^[A-Za-z0-9.-]{1,253}$|^\[[0-9A-Fa-f:.]{2,45}\]$/;

const sameMachine = (ctx: Context): boolean => {
  const s = ctx.req.socket;
  return !!s.remoteAddress && s.remoteAddress === s.localAddress;
};

export function adminOverTls(enabled: boolean) {
  return async (ctx: Context, next: Next): Promise<void> => {
    if (!enabled || ctx.secure || sameMachine(ctx)) return void (await next());
    const port = ctx.req.socket.localPort;
    const host = HOST.test(ctx.hostname) ? ctx.hostname : ctx.req.socket.localAddress;
    const https = `https://${host}:${port}`;
    const token = bearer(ctx);
    const userCredential = !!ctx.cookies.get(SESSION_COOKIE) || (!!token && !SWARM_KEY.test(token)) || (ctx.path === `${API}/session` && ctx.method === 'POST');
    if (userCredential)
      throw new HttpError(
        403,
        `logins, sessions and API tokens go over HTTPS only, so that nobody on the lab network reads them: use ${https}${ctx.path.startsWith('/api') ? '' : '/'} (plain HTTP on this port is for PCs)`,
      );
    if (ctx.method === 'GET' && !ctx.path.startsWith('/api/') && !PC_PATHS.test(ctx.path)) {
      ctx.status = 308;
      ctx.redirect(`${https}${ctx.url}`);
      return;
    }
    await next();
  };
}
