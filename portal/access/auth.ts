/**
 * Who is calling. People log in to the UI and get a session cookie (httpOnly, SameSite=Strict);
 * scripts send an API token as a bearer. Both name a user with one role. Storage nodes sign with
 * the lab secret, and PCs carry the key of their task: those two are checked by their routes.
 *
 * Secrets are stored hashed: passwords with scrypt (slow on purpose), session ids and API tokens
 * with SHA-256 (they are 32 random bytes, so a fast hash loses nothing and keeps each request cheap).
 */
import { createHash, randomBytes } from 'node:crypto';
import type { Context } from 'koa';
import type { Role } from '../../shared/http/portal-contract.js';
import { NODE_KEY_SCOPE } from '../../shared/keys/lab-secret.js';
import { checkSwarmKey } from '../../shared/keys/swarm-key.js';
import { HttpError } from '../../shared/http/errors.js';
import { bearer } from '../../shared/http/server.js';
import type { Db } from '../db/open.js';
import { audit } from '../db/audit.js';
import { LoginGuard, PasswordHasher } from './login-guard.js';
import {
  anyUser,
  deleteSession,
  insertAdminFileToken,
  insertFirstAdmin,
  insertSession,
  sessionUser,
  tokenByHash,
  tokenCaller,
  touchToken,
} from './access-store.js';

// The roles are part of the API's contract (the answers name them; the UI offers them).
export { ROLES, RoleSchema, type Role } from '../../shared/http/portal-contract.js';

/**
 * What a route asks of its caller: `read` any user, `images` an admin or image admin, `admin` an
 * admin; `node` and `host` are checked by the route (lab-secret signature, task key); `public`
 * nobody (health, the trackers' list of published infohashes, iPXE scripts, login).
 */
export type Access = 'public' | 'node' | 'host' | 'read' | 'images' | 'admin';

const ALLOWED: Record<'read' | 'images' | 'admin', Role[]> = {
  read: ['admin', 'image-admin', 'readonly'],
  images: ['admin', 'image-admin'],
  admin: ['admin'],
};

export interface Caller {
  name: string;
  role: Role;
}

export const SESSION_COOKIE = 'shoal_session';
const SESSION_MS = 12 * 3_600_000;
/** A token's last use is written at most this often, so scripts polling the API do not write per call. */
const TOKEN_TOUCH_MS = 60_000;

export const sha256 = (s: string): string => createHash('sha256').update(s).digest('hex');

/** Passwords are hashed on a thread of their own, and logins are guarded (login-guard.ts). */
export const passwords = new PasswordHasher();
export const logins = new LoginGuard();

export const hashPassword = (password: string): Promise<string> => passwords.hash(password);

/** Whether the password matches; `stored` undefined (no such user) costs the same and says no. */
export const passwordMatches = (password: string, stored: string | undefined): Promise<boolean> => passwords.matches(password, stored);

export const newApiToken = (): string => `shoal_${randomBytes(32).toString('base64url')}`;

export async function startSession(ctx: Context, db: Db, user: string): Promise<void> {
  const id = randomBytes(32).toString('base64url');
  const expires = Date.now() + SESSION_MS;
  await insertSession(db, sha256(id), user, expires);
  // Secure over HTTPS, so that the browser never sends it over the PCs' plain HTTP.
  ctx.cookies.set(SESSION_COOKIE, id, { httpOnly: true, sameSite: 'strict', path: '/', expires: new Date(expires), overwrite: true, secure: ctx.secure });
}

export async function endSession(ctx: Context, db: Db): Promise<void> {
  const id = ctx.cookies.get(SESSION_COOKIE);
  if (id) await deleteSession(db, sha256(id));
  ctx.cookies.set(SESSION_COOKIE, '', { httpOnly: true, sameSite: 'strict', path: '/', expires: new Date(0) });
}

/** The user behind the request's session cookie or bearer token, or undefined. */
export async function callerOf(ctx: Context, db: Db): Promise<Caller | undefined> {
  const known = (ctx.state as { caller?: Caller | null }).caller;
  if (known !== undefined) return known ?? undefined;
  let caller: Caller | null = null;
  const token = bearer(ctx);
  const session = ctx.cookies.get(SESSION_COOKIE);
  if (token) {
    const row = await tokenCaller(db, sha256(token));
    if (!row || row.revoked_ms) throw new HttpError(401, 'unknown or revoked API token');
    if (row.expires_ms && Number(row.expires_ms) <= Date.now())
      throw new HttpError(401, `this API token expired at ${new Date(Number(row.expires_ms)).toISOString()}: make a new one under Users`);
    if (!row.last_used_ms || Number(row.last_used_ms) < Date.now() - TOKEN_TOUCH_MS) await touchToken(db, row.id);
    caller = { name: row.name, role: row.role };
  } else if (session) {
    const row = await sessionUser(db, sha256(session));
    if (row) caller = { name: row.name, role: row.role };
  }
  ctx.state.caller = caller;
  return caller ?? undefined;
}

const REFUSAL_LOG_MS = 60_000;
const refusals = new Map<string, { firstMs: number; count: number }>();

/**
 * How many refusals of this caller and route the audit entry stands for: the calls since the
 * last entry, once a minute; 0 while that minute runs (the call is counted, not written).
 */
function refusalsToLog(key: string): number {
  const now = Date.now();
  const seen = refusals.get(key);
  if (seen && now - seen.firstMs < REFUSAL_LOG_MS) {
    seen.count++;
    return 0;
  }
  refusals.set(key, { firstMs: now, count: 0 });
  // Bounded: the oldest keys go first.
  if (refusals.size > 10_000) refusals.delete(refusals.keys().next().value!);
  return 1 + (seen?.count ?? 0);
}

/** Throws 401 without a user and 403 when the user's role may not do this. */
export async function requireAccess(ctx: Context, db: Db, access: Access): Promise<Caller | undefined> {
  if (access === 'public' || access === 'node' || access === 'host') return undefined;
  const caller = await callerOf(ctx, db);
  if (!caller) throw new HttpError(401, 'log in first, or send an API token (Authorization: Bearer ...)');
  if (!ALLOWED[access].includes(caller.role)) {
    const need = access === 'admin' ? 'an admin' : 'an admin or image admin';
    // A refused call is worth a look (a script with a read-only token, someone trying buttons);
    // only for a caller who is logged in, so nobody unknown can fill the log, and once a minute
    // per caller and route, so a script looping on a refusal cannot either (the entry counts them).
    const route = `${ctx.method} ${(ctx as { _matchedRoute?: string })._matchedRoute ?? ctx.path}`;
    const times = refusalsToLog(`${caller.name} ${route}`);
    if (times)
      await audit(db, caller.name, 'access.refused', route, { address: ctx.ip, role: caller.role, ...(times > 1 && { times }) }).catch(() => undefined);
    throw new HttpError(403, `${caller.name} is ${caller.role === 'readonly' ? 'read-only' : `an ${caller.role}`}: this needs ${need}`);
  }
  return caller;
}

export function requireNode(ctx: Context, secret: string, name: string): void {
  const check = checkSwarmKey(secret, NODE_KEY_SCOPE, bearer(ctx));
  if (!check.ok) throw new HttpError(401, `storage node: ${check.reason}`);
  if (check.holder !== name) throw new HttpError(403, `this key belongs to storage node ${check.holder}, not ${name}`);
}

/**
 * The first admin: made on first start from SHOAL_ADMIN_USER / SHOAL_ADMIN_PASSWORD or with a
 * random password that is returned once to be printed. The data directory's admin-token file
 * (what `shoal start`'s scripts and the CLI use) is registered as that admin's API token.
 */
export async function ensureFirstAdmin(
  db: Db,
  adminToken: string,
  env: NodeJS.ProcessEnv = process.env,
): Promise<{ name: string; password?: string } | undefined> {
  let created: { name: string; password?: string } | undefined;
  if (!(await anyUser(db))) {
    const name = env.SHOAL_ADMIN_USER || 'admin';
    const given = env.SHOAL_ADMIN_PASSWORD;
    const password = given || randomBytes(12).toString('base64url');
    await insertFirstAdmin(db, name, await hashPassword(password));
    await audit(db, 'shoal', 'user.create', name, { role: 'admin', first: true });
    created = given ? { name } : { name, password };
  }
  const hash = sha256(adminToken);
  const known = await tokenByHash(db, hash);
  // A revoked admin-token file stays revoked: it is not taken again at the next start.
  if (known?.revoked_ms)
    console.error(
      `shoal-portal: the data directory's admin-token was revoked: it opens nothing (make a new token under Users, or remove the file for a new one)`,
    );
  if (!known) await insertAdminFileToken(db, hash);
  return created;
}
