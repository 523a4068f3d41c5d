/**
 * The rows the access checks read and write: sessions, API tokens as they authenticate, the first
 * admin, and the owner of a task key. Kept here, below the features, because access/ may import
 * only db/; the users' own pages keep theirs in users/user-store.ts.
 */
import type { Knex } from 'knex';
import type { Db } from '../db/open.js';
import type { ApiTokenRow, TaskHostRow, UserRow } from '../db/tables.js';

type Q = Db | Knex.Transaction;

export async function insertSession(db: Db, idHash: string, user: string, expiresMs: number): Promise<void> {
  await db('sessions').where('expires_ms', '<', Date.now()).delete();
  await db('sessions').insert({ id_hash: idHash, user_name: user, expires_ms: expiresMs });
}

export async function deleteSession(db: Db, idHash: string): Promise<void> {
  await db('sessions').where({ id_hash: idHash }).delete();
}

/** The user of a session that has not expired. */
export const sessionUser = (db: Db, idHash: string): Promise<Pick<UserRow, 'name' | 'role'> | undefined> =>
  db('sessions')
    .join('users', 'users.name', 'sessions.user_name')
    .where('sessions.id_hash', idHash)
    .andWhere('sessions.expires_ms', '>', Date.now())
    .select('users.name', 'users.role')
    .first();

export type TokenCaller = Pick<ApiTokenRow, 'id' | 'last_used_ms' | 'expires_ms' | 'revoked_ms'> & Pick<UserRow, 'name' | 'role'>;

/** An API token with its user, revoked and expired ones included (the caller says why they fail). */
export const tokenCaller = (db: Db, tokenHash: string): Promise<TokenCaller | undefined> =>
  db('api_tokens')
    .join('users', 'users.name', 'api_tokens.user_name')
    .where('api_tokens.token_hash', tokenHash)
    .select('api_tokens.id', 'api_tokens.last_used_ms', 'api_tokens.expires_ms', 'api_tokens.revoked_ms', 'users.name', 'users.role')
    .first();

export async function touchToken(db: Db, id: number): Promise<void> {
  await db('api_tokens').where({ id }).update({ last_used_ms: Date.now() });
}

export const anyUser = (db: Db): Promise<UserRow | undefined> => db('users').first();

export async function insertFirstAdmin(db: Db, name: string, passwordHash: string): Promise<void> {
  await db('users').insert({ name, password_hash: passwordHash, role: 'admin', created_ms: Date.now() });
}

export const tokenByHash = (db: Db, tokenHash: string): Promise<ApiTokenRow | undefined> => db('api_tokens').where({ token_hash: tokenHash }).first();

/** The admin-token file's token, given to the oldest admin. */
export async function insertAdminFileToken(db: Db, tokenHash: string): Promise<void> {
  const admin = await db('users').where({ role: 'admin' }).orderBy('created_ms').first();
  if (admin) await db('api_tokens').insert({ user_name: admin.name, label: 'admin-token file', token_hash: tokenHash, created_ms: Date.now() });
}

/** Which task and host a task key was issued to, whatever the task's state. */
export const keyOwner = (db: Q, key: string): Promise<Pick<TaskHostRow, 'task_id' | 'mac' | 'state'> | undefined> =>
  db('task_hosts').where({ key }).select('task_id', 'mac', 'state').first();
