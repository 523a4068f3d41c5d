/** Logging in and out, users and their roles, API tokens, and the audit log. */
import { stringify as toCsv } from 'csv-stringify/sync';
import { z } from 'zod';
import { API } from '../../shared/http/api.js';
import { HttpError, notFound } from '../../shared/http/errors.js';
import type { Db } from '../db/open.js';
import { iso } from '../db/times.js';
import type { ApiRouter } from '../http/api-router.js';
import { AuditListSchema, NewTokenSchema, SessionSchema, TokenListSchema, UserListSchema, UserSchema, type Role } from '../../shared/http/portal-contract.js';
import { audit, changes, describeDetail } from '../db/audit.js';
import type { AuditRow } from '../db/tables.js';
import { endSession, hashPassword, logins, newApiToken, passwordMatches, RoleSchema, sha256, startSession } from '../access/auth.js';
import type { PortalDeps } from '../deps.js';
import { logger } from '../../shared/log.js';
import {
  auditEntries,
  type AuditFilter,
  deleteUser,
  endSessionsOf,
  findUser,
  insertToken,
  insertUser,
  listUsers,
  liveToken,
  liveTokens,
  otherAdminCount,
  revokeToken,
  updateUser,
  userByName,
} from './user-store.js';

const log = logger('users');

const userName = z
  .string()
  .trim()
  .regex(/^[A-Za-z0-9._@-]{1,64}$/, 'letters, digits and . _ @ - (at most 64)');
const password = z.string().min(8, 'at least 8 characters').max(200);
const Login = z.object({ username: z.string().min(1).max(64), password: z.string().min(1).max(200) }).strict();
const NewUser = z.object({ name: userName, password, role: RoleSchema }).strict();
const ChangeUser = z.object({ password: password.optional(), role: RoleSchema.optional() }).strict();
/** An API token lives 90 days unless asked otherwise (at most ten years). */
const NewToken = z.object({ label: z.string().trim().min(1).max(100), expiresInDays: z.number().int().positive().max(3650).default(90) }).strict();
/** A day ("2026-12-03", UTC) or an instant ("2026-12-03T08:00:00+01:00"). */
const when = z.union([z.iso.date(), z.iso.datetime({ offset: true })]);
const AuditFilterQuery = z.object({
  /** From this instant on (a day: its start). */
  from: when.optional(),
  /** Before this instant (a day: up to its end). */
  to: when.optional(),
  actor: z.string().trim().max(64).optional(),
  action: z
    .string()
    .trim()
    .regex(/^[a-z0-9.-]{0,64}$/, 'an action, or its first part ("user")')
    .optional(),
});
const AuditQuery = AuditFilterQuery.extend({
  limit: z.coerce.number().int().positive().max(1000).default(200),
  offset: z.coerce.number().int().nonnegative().default(0),
});
/** Rows in one CSV export: a lab's year of changes fits; a larger range is refused and asks for a smaller one. */
const MAX_AUDIT_CSV_ROWS = 100_000;
const DAY_MS = 86_400_000;

function auditFilter(q: z.infer<typeof AuditFilterQuery>): AuditFilter {
  const ms = (s: string | undefined, endOfDay: boolean): number | undefined =>
    s === undefined ? undefined : s.length === 10 ? Date.parse(`${s}T00:00:00Z`) + (endOfDay ? DAY_MS : 0) : Date.parse(s);
  return { fromMs: ms(q.from, false), toMs: ms(q.to, true), actor: q.actor || undefined, action: q.action || undefined };
}

const auditView = (e: AuditRow) => {
  const detail = e.detail ? (JSON.parse(e.detail) as unknown) : null;
  return { id: e.id, at: iso(e.at_ms), actor: e.actor, action: e.action, target: e.target, detail, summary: describeDetail(detail) };
};

const userView = (u: { name: string; role: Role; created_ms: number }) => ({ name: u.name, role: u.role, createdAt: iso(u.created_ms) });

export function userRoutes(api: ApiRouter, { db }: PortalDeps): void {
  // A held login (too many wrong ones for the user name or from the address) is in the audit log
  // once per hold; the tries after it within the same wait are not (a flood would fill the log).
  logins.onHeld = (user, ip, retryAfterSeconds) => {
    audit(db, user.slice(0, 64) || '(before the name was read)', 'session.refused', ip, { reason: 'locked out', retryAfterSeconds }).catch((err: unknown) =>
      log.warn({ err }, 'audit of a held login'),
    );
  };
  api.add(
    {
      method: 'post',
      path: `${API}/session`,
      summary: 'Log in: sets the session cookie',
      tag: 'session',
      access: 'public',
      body: Login,
      response: SessionSchema,
    },
    async (ctx, { body }) => {
      try {
        logins.check(body.username, ctx.ip);
      } catch (err) {
        ctx.set('Retry-After', String((err as { retryAfterSeconds: number }).retryAfterSeconds));
        await logins.slowRefusal(err);
        throw err;
      }
      const user = await findUser(db, body.username);
      const matches = await passwordMatches(body.password, user?.password_hash).catch(async (err: unknown) => {
        // Too many logins being checked: answered slowly too.
        if ((err as HttpError).status === 429) await logins.slowRefusal();
        throw err;
      });
      if (!matches || !user) {
        const backoff = logins.failed(body.username, ctx.ip);
        await audit(db, body.username.slice(0, 64), 'session.refused', ctx.ip, {
          reason: user ? 'wrong password' : 'no such user',
          ...(backoff && { backoffSeconds: backoff / 1000 }),
        });
        throw new HttpError(401, 'wrong user name or password');
      }
      logins.succeeded(user.name, ctx.ip);
      await startSession(ctx, db, user.name);
      await audit(db, user.name, 'session.login', ctx.ip);
      return { user: { name: user.name, role: user.role } };
    },
  );

  api.add(
    { method: 'get', path: `${API}/session`, summary: 'Who is logged in', tag: 'session', access: 'read', response: SessionSchema },
    async (_ctx, { caller }) => ({
      user: caller,
    }),
  );

  api.add({ method: 'delete', path: `${API}/session`, summary: 'Log out', tag: 'session', access: 'public', response: 'empty' }, async (ctx) => {
    await endSession(ctx, db);
    ctx.status = 204;
  });

  api.add({ method: 'get', path: `${API}/users`, summary: 'Users and their roles', tag: 'users', access: 'admin', response: UserListSchema }, async () => ({
    users: (await listUsers(db)).map(userView),
  }));

  api.add(
    { method: 'post', path: `${API}/users`, summary: 'Add a user', tag: 'users', access: 'admin', body: NewUser, status: 201, response: UserSchema },
    async (_ctx, { body, caller }) => {
      const row = { name: body.name, role: body.role, password_hash: await hashPassword(body.password), created_ms: Date.now() };
      await db.transaction(async (tx) => {
        if (await findUser(tx, body.name)) throw new HttpError(409, `user ${body.name} exists`, 'name');
        await insertUser(tx, row);
        await audit(tx, caller.name, 'user.create', body.name, { role: body.role });
      });
      return userView(row);
    },
  );

  api.add(
    {
      method: 'patch',
      path: `${API}/users/:name`,
      summary: "Change a user's password or role",
      tag: 'users',
      access: 'admin',
      body: ChangeUser,
      response: UserSchema,
    },
    async (_ctx, { body, params, caller }) => {
      const hash = body.password ? await hashPassword(body.password) : undefined;
      return db.transaction(async (tx) => {
        const user = await userByName(tx, params.name!);
        if (body.role && body.role !== 'admin' && user.role === 'admin') await keepOneAdmin(tx, user.name);
        await updateUser(tx, user.name, { ...(body.role && { role: body.role }), ...(hash && { password_hash: hash }) });
        // A new password ends the user's sessions elsewhere.
        if (hash) await endSessionsOf(tx, user.name);
        await audit(tx, caller.name, 'user.update', user.name, { ...changes({ role: user.role }, { role: body.role }), ...(hash && { password: 'changed' }) });
        return userView({ ...user, role: body.role ?? user.role });
      });
    },
  );

  api.add(
    {
      method: 'delete',
      path: `${API}/users/:name`,
      summary: 'Remove a user (and their sessions and tokens)',
      tag: 'users',
      access: 'admin',
      response: 'empty',
    },
    async (_ctx, { params, caller }) => {
      await db.transaction(async (tx) => {
        const user = await userByName(tx, params.name!);
        if (user.role === 'admin') await keepOneAdmin(tx, user.name);
        await deleteUser(tx, user.name);
        await audit(tx, caller.name, 'user.delete', user.name);
      });
    },
  );

  api.add(
    { method: 'get', path: `${API}/tokens`, summary: "API tokens (an admin sees everyone's)", tag: 'users', access: 'read', response: TokenListSchema },
    async (_ctx, { caller }) => {
      const rows = await liveTokens(db, caller.role === 'admin' ? undefined : caller.name);
      return {
        tokens: rows.map((t) => ({
          id: t.id,
          user: t.user_name,
          label: t.label,
          createdAt: iso(t.created_ms),
          lastUsedAt: iso(t.last_used_ms),
          expiresAt: iso(t.expires_ms),
        })),
      };
    },
  );

  api.add(
    {
      method: 'post',
      path: `${API}/tokens`,
      summary: 'Make an API token for yourself (shown once)',
      tag: 'users',
      access: 'read',
      body: NewToken,
      status: 201,
      response: NewTokenSchema,
    },
    async (_ctx, { body, caller }) => {
      const token = newApiToken();
      const expiresMs = Date.now() + body.expiresInDays * 86_400_000;
      const id = await db.transaction(async (tx) => {
        const tokenId = await insertToken(tx, {
          user_name: caller.name,
          label: body.label,
          token_hash: sha256(token),
          created_ms: Date.now(),
          expires_ms: expiresMs,
        });
        await audit(tx, caller.name, 'token.create', body.label, { expiresAt: new Date(expiresMs).toISOString() });
        return tokenId;
      });
      return { id, label: body.label, token, expiresAt: new Date(expiresMs).toISOString() };
    },
  );

  api.add(
    { method: 'delete', path: `${API}/tokens/:id`, summary: 'Revoke an API token', tag: 'users', access: 'read', response: 'empty' },
    async (_ctx, { params, caller }) => {
      await db.transaction(async (tx) => {
        const t = await liveToken(tx, Number(params.id));
        if (!t || (caller.role !== 'admin' && t.user_name !== caller.name)) throw notFound(`token ${params.id}`);
        // Kept as revoked, not deleted: the admin-token file's token must not come back at the next start.
        await revokeToken(tx, t.id);
        await audit(tx, caller.name, 'token.revoke', t.label, { user: t.user_name });
      });
    },
  );

  api.add(
    {
      method: 'get',
      path: `${API}/audit`,
      summary: 'The audit log, newest first: a page (limit, offset) of the entries in a time range (from, to), by actor or action, and the total',
      tag: 'users',
      access: 'admin',
      query: AuditQuery,
      response: AuditListSchema,
    },
    async (_ctx, { query }) => {
      const { rows, total } = await auditEntries(db, auditFilter(query), query.limit, query.offset);
      return { entries: rows.map(auditView), total };
    },
  );

  api.add(
    {
      method: 'get',
      path: `${API}/audit.csv`,
      summary: 'The audit log as CSV, newest first, with the filters of GET /audit (id,at,actor,action,target,detail)',
      tag: 'users',
      access: 'admin',
      query: AuditFilterQuery,
      responseType: 'text/csv',
      response: 'raw',
    },
    async (ctx, { query }) => {
      const { rows, total } = await auditEntries(db, auditFilter(query), MAX_AUDIT_CSV_ROWS);
      if (total > MAX_AUDIT_CSV_ROWS)
        throw new HttpError(413, `${total} entries match: at most ${MAX_AUDIT_CSV_ROWS} in one export; pick a shorter time range`);
      ctx.type = 'text/csv';
      ctx.attachment('shoal-audit.csv');
      ctx.body = toCsv(
        rows.map(auditView).map((e) => [e.id, e.at, e.actor, e.action, e.target ?? '', e.summary]),
        { header: true, columns: ['id', 'at', 'actor', 'action', 'target', 'detail'] },
      );
    },
  );
}

/** The lab must keep at least one admin, or nobody could add users again. */
async function keepOneAdmin(tx: Db, leaving: string): Promise<void> {
  if ((await otherAdminCount(tx, leaving)) === 0) throw new HttpError(409, `${leaving} is the last admin`);
}
