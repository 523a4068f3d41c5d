/**
 * Every query of the users' routes, in one place: users, their sessions and API tokens as the
 * admin keeps them, and the audit log as it is read (it is written by db/audit.ts, in each
 * change's own transaction). Logging in and checking a caller are access/auth.ts's. Each function
 * takes the database or a transaction, so a route decides what must change together.
 */
import type { Knex } from 'knex';
import { notFound } from '../../shared/http/errors.js';
import { insertedId, type Db } from '../db/open.js';
import type { ApiTokenRow, AuditRow, UserRow } from '../db/tables.js';

type Q = Db | Knex.Transaction;

export const findUser = (db: Q, name: string): Promise<UserRow | undefined> => db('users').where({ name }).first();

export async function userByName(db: Q, name: string): Promise<UserRow> {
  const user = await findUser(db, name);
  if (!user) throw notFound(`user ${name}`);
  return user;
}

/** Every user by name, without their password hashes. */
export const listUsers = (db: Q): Promise<Array<Pick<UserRow, 'name' | 'role' | 'created_ms'>>> =>
  db('users').select('name', 'role', 'created_ms').orderBy('name');

export async function insertUser(db: Q, row: UserRow): Promise<void> {
  await db('users').insert(row);
}

export async function updateUser(db: Q, name: string, change: Partial<UserRow>): Promise<void> {
  await db('users').where({ name }).update(change);
}

/** Ends every session of the user (a new password logs them out elsewhere). */
export async function endSessionsOf(db: Q, name: string): Promise<void> {
  await db('sessions').where({ user_name: name }).delete();
}

/** A user goes with their sessions and API tokens. */
export async function deleteUser(tx: Q, name: string): Promise<void> {
  await endSessionsOf(tx, name);
  await tx('api_tokens').where({ user_name: name }).delete();
  await tx('users').where({ name }).delete();
}

/** How many admins there are besides this user. */
export async function otherAdminCount(db: Q, name: string): Promise<number> {
  return Number((await db('users').where({ role: 'admin' }).whereNot({ name }).count({ n: '*' }).first())?.n ?? 0);
}

export type TokenListed = Pick<ApiTokenRow, 'id' | 'user_name' | 'label' | 'created_ms' | 'last_used_ms' | 'expires_ms'>;

/** API tokens not revoked (of one user, or everyone's), oldest first, without their hashes. */
export async function liveTokens(db: Q, user?: string): Promise<TokenListed[]> {
  const q = db('api_tokens').whereNull('revoked_ms').select('id', 'user_name', 'label', 'created_ms', 'last_used_ms', 'expires_ms').orderBy('id');
  return user === undefined ? q : q.where({ user_name: user });
}

/** Adds an API token (its hash); returns its id. */
export async function insertToken(tx: Q, row: Omit<ApiTokenRow, 'id' | 'last_used_ms' | 'revoked_ms'>): Promise<number> {
  return insertedId((await tx('api_tokens').insert(row).returning('id'))[0]);
}

/** An API token not revoked yet. */
export const liveToken = (db: Q, id: number): Promise<ApiTokenRow | undefined> => db('api_tokens').where({ id }).whereNull('revoked_ms').first();

/** A revoked token is kept, marked, not deleted (see the route). */
export async function revokeToken(db: Q, id: number): Promise<void> {
  await db('api_tokens').where({ id }).update({ revoked_ms: Date.now() });
}

/** What narrows the audit log: a time range (from inclusive, to exclusive), who, and what. */
export interface AuditFilter {
  fromMs?: number;
  toMs?: number;
  actor?: string;
  /** An action ("user.update"), or the start of one before its dot ("user": every user.* action). */
  action?: string;
}

/** Narrows a query of the audit log to the filter's entries. */
const auditWhere =
  (f: AuditFilter) =>
  (q: Knex.QueryBuilder): void => {
    if (f.fromMs !== undefined) void q.where('at_ms', '>=', f.fromMs);
    if (f.toMs !== undefined) void q.where('at_ms', '<', f.toMs);
    if (f.actor) void q.where('actor', f.actor);
    // The route allows letters, digits, dots and dashes only, so the pattern holds no wildcard of LIKE's.
    if (f.action) void q.where((w) => void w.where('action', f.action!).orWhere('action', 'like', `${f.action}.%`));
  };

/** One page of the audit log, newest first, and how many entries match in all. */
export async function auditEntries(db: Q, f: AuditFilter, limit: number, offset = 0): Promise<{ rows: AuditRow[]; total: number }> {
  const rows = await db('audit').where(auditWhere(f)).orderBy('id', 'desc').limit(limit).offset(offset);
  const total = Number((await db('audit').where(auditWhere(f)).count({ n: '*' }).first())?.n ?? 0);
  return { rows, total };
}
