/**
 * Several portals may share one PostgreSQL (docs/architecture.md, "Several portals"), and some of
 * what they hand out is read, then written: an image's next version (the highest one in use, plus
 * one) and a host's one open task (no open task holds it, then it is added). Under PostgreSQL's
 * READ COMMITTED two portals' transactions can both read before either writes, and publish one
 * version twice or put a PC in two tasks. Each such transaction first takes this lock, held until
 * it commits or rolls back, so they take turns. SQLite needs none: one portal, one writer at a time.
 */
import type { Knex } from 'knex';

/** The advisory lock's key: any fixed 64-bit number, the same in every portal ("shoal" in ASCII). */
const ASSIGN_LOCK_KEY = 0x73686f616c;

export async function takeAssignLock(tx: Knex.Transaction): Promise<void> {
  if ((tx.client as { config: { client: string } }).config.client === 'pg') await tx.raw('select pg_advisory_xact_lock(?)', [ASSIGN_LOCK_KEY]);
}
