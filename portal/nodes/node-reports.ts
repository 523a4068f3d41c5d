/**
 * What storage nodes said in their last heartbeat that the database does not keep: their upload
 * rate and their multicast sessions' state. Both change every few seconds and are stale a minute
 * later, so they live in memory; a restarted portal knows them again at the next heartbeat.
 * Kept per database (one portal process may hold several portals in the unit tests); portals
 * sharing a PostgreSQL database pass each other the heartbeats they take (db/cluster-bus.ts).
 */
import type { MulticastStatus } from '../../shared/http/api.js';
import type { Db } from '../db/open.js';
import type { ClusterBus } from '../db/cluster-bus.js';

export interface SessionReport extends MulticastStatus {
  node: string;
  reportedMs: number;
}

interface Reports {
  uploadRates: Map<string, number>;
  sessions: Map<number, SessionReport>;
}

const byDb = new WeakMap<Db, Reports>();

function reportsOf(db: Db): Reports {
  let r = byDb.get(db);
  if (!r) byDb.set(db, (r = { uploadRates: new Map(), sessions: new Map() }));
  return r;
}

type Heartbeat = { uploadBytesPerSec?: number | undefined; multicast?: MulticastStatus[] | undefined };
const buses = new WeakMap<Db, ClusterBus>();

/** Heartbeats taken by the other portals on this database are kept here too. */
export function shareNodeReports(db: Db, bus: ClusterBus): () => void {
  buses.set(db, bus);
  return bus.on('nodes.heartbeat', (m) => {
    const { node, hb } = m as { node: string; hb: Heartbeat };
    keep(db, node, hb);
  });
}

export function noteHeartbeat(db: Db, node: string, hb: Heartbeat): void {
  keep(db, node, hb);
  buses.get(db)?.publish('nodes.heartbeat', { node, hb: { uploadBytesPerSec: hb.uploadBytesPerSec, multicast: hb.multicast } });
}

function keep(db: Db, node: string, hb: Heartbeat): void {
  const r = reportsOf(db);
  if (hb.uploadBytesPerSec !== undefined) r.uploadRates.set(node, hb.uploadBytesPerSec);
  const now = Date.now();
  for (const s of hb.multicast ?? []) r.sessions.set(s.taskId, { ...s, node, reportedMs: now });
  // A session nobody has reported for a while is over: forgotten, so the map does not grow with
  // every multicast task the portal ever ran.
  for (const [taskId, s] of r.sessions) if (now - s.reportedMs > SESSION_FORGOTTEN_MS) r.sessions.delete(taskId);
}

const SESSION_FORGOTTEN_MS = 15 * 60_000;

/** A node's upload rate as it last said it (bytes/s), or null if it never said. */
export const uploadRate = (db: Db, node: string): number | null => reportsOf(db).uploadRates.get(node) ?? null;

/** The multicast session of a task as its node last reported it, if one did. */
export const sessionReport = (db: Db, taskId: number): SessionReport | undefined => reportsOf(db).sessions.get(taskId);
