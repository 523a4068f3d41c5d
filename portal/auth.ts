/**
 * Who may call what. Until issue 4 brings users and roles, three callers: the admin (a bearer
 * token from the data directory), a storage node (a key signed with the lab secret for its name)
 * and a PC (the swarm key the portal issued it for its task).
 */
import { timingSafeEqual } from 'node:crypto';
import type { Context } from 'koa';
import { NODE_KEY_SCOPE } from '../shared/lab-secret.js';
import { checkSwarmKey } from '../shared/swarm-key.js';
import { HttpError } from '../shared/http-errors.js';
import { bearer } from '../shared/http-server.js';

export function requireAdmin(ctx: Context, adminToken: string): void {
  const given = Buffer.from(bearer(ctx) ?? '');
  const want = Buffer.from(adminToken);
  if (given.length === 0) throw new HttpError(401, 'this needs the admin token (Authorization: Bearer ..., see admin-token in the data directory)');
  if (given.length !== want.length || !timingSafeEqual(given, want)) throw new HttpError(403, 'wrong admin token');
}

/** Returns the node's name. */
export function requireNode(ctx: Context, secret: string, name: string): void {
  const check = checkSwarmKey(secret, NODE_KEY_SCOPE, bearer(ctx));
  if (!check.ok) throw new HttpError(401, `storage node: ${check.reason}`);
  if (check.holder !== name) throw new HttpError(403, `this key belongs to storage node ${check.holder}, not ${name}`);
}
