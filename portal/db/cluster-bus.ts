/**
 * What one portal process tells the others that share its PostgreSQL database: the live feed's
 * host batches, cache invalidations, node heartbeats, proof challenges. Several portals behind a
 * load balancer then serve any PC and any dashboard alike. Carried by PostgreSQL's LISTEN/NOTIFY
 * on one channel, so nothing else needs installing; on SQLite (one portal process) it carries
 * nothing. A message is best-effort, like the feed it serves: one lost while a connection
 * reconnects costs a dashboard a stale line until the next change, never a wrong database row.
 * Any role that can connect to the database may NOTIFY: each message carries an HMAC under the
 * lab secret, and one without a valid one is dropped.
 */
import { createHmac, randomUUID, timingSafeEqual } from 'node:crypto';
import pg from 'pg';
import { logger } from '../../shared/log.js';

const CHANNEL = 'shoal_portal';
/** PostgreSQL refuses a NOTIFY payload of 8000 bytes or more. */
export const MAX_PAYLOAD_BYTES = 7_900;
const RECONNECT_MS = 1_000;
const log = logger('portal');

export interface ClusterBus {
  /** Whether other processes can be listening (PostgreSQL): callers skip the work of telling them otherwise. */
  readonly shared: boolean;
  /** Tells the other portals; never this one. A message too large for one NOTIFY is dropped with a warning. */
  publish(kind: string, payload: unknown): void;
  /** What the other portals said of this kind. */
  on(kind: string, fn: (payload: unknown) => void): () => void;
  close(): Promise<void>;
}

export const localBus = (): ClusterBus => ({ shared: false, publish() {}, on: () => () => {}, close: async () => {} });

const sign = (secret: string, body: string): string => createHmac('sha256', secret).update(`shoal-portal-bus/${body}`).digest('hex');

export async function openClusterBus(database: string, secret: string): Promise<ClusterBus> {
  if (!/^postgres(ql)?:\/\//.test(database)) return localBus();
  const me = randomUUID();
  const handlers = new Map<string, Set<(payload: unknown) => void>>();
  let client: pg.Client | undefined;
  let closed = false;
  let connecting: Promise<void> | undefined;
  const connect = async (): Promise<void> => {
    const c = new pg.Client({ connectionString: database });
    c.on('notification', (n) => {
      if (n.channel !== CHANNEL || !n.payload) return;
      const cut = n.payload.indexOf(' ');
      const mac = Buffer.from(n.payload.slice(0, cut), 'hex');
      const body = n.payload.slice(cut + 1);
      const want = Buffer.from(sign(secret, body), 'hex');
      if (cut <= 0 || mac.length !== want.length || !timingSafeEqual(mac, want)) {
        log.warn({ bytes: n.payload.length }, "a message on the portals' channel without a valid signature; dropped");
        return;
      }
      let m: { from?: unknown; kind?: unknown; payload?: unknown };
      try {
        m = JSON.parse(body) as typeof m;
      } catch {
        return;
      }
      if (typeof m !== 'object' || m === null || typeof m.kind !== 'string' || m.from === me) return;
      for (const fn of handlers.get(m.kind) ?? []) {
        try {
          fn(m.payload);
        } catch (err) {
          log.warn({ err, kind: m.kind }, 'a message from another portal could not be applied');
        }
      }
    });
    const lost = (err?: Error): void => {
      if (client !== c) return;
      client = undefined;
      if (closed) return;
      log.warn({ err }, "the other portals' channel is down; reconnecting");
      setTimeout(() => void reconnect(), RECONNECT_MS).unref();
    };
    c.on('error', lost);
    c.on('end', () => lost());
    await c.connect();
    await c.query(`LISTEN ${CHANNEL}`);
    client = c;
  };
  const reconnect = (): Promise<void> =>
    (connecting ??= connect()
      .catch((err: unknown) => {
        if (!closed) {
          log.warn({ err }, "cannot reach the other portals' channel; retrying");
          setTimeout(() => void reconnect(), RECONNECT_MS).unref();
        }
      })
      .finally(() => (connecting = undefined)));
  await connect();
  return {
    shared: true,
    publish(kind, payload) {
      const body = JSON.stringify({ from: me, kind, payload });
      const text = `${sign(secret, body)} ${body}`;
      if (Buffer.byteLength(text) > MAX_PAYLOAD_BYTES) {
        log.warn({ kind, bytes: Buffer.byteLength(text) }, 'a message for the other portals is too large; dropped');
        return;
      }
      client?.query('SELECT pg_notify($1, $2)', [CHANNEL, text]).catch((err: unknown) => log.warn({ err, kind }, 'could not tell the other portals'));
    },
    on(kind, fn) {
      let set = handlers.get(kind);
      if (!set) handlers.set(kind, (set = new Set()));
      set.add(fn);
      return () => set.delete(fn);
    },
    async close() {
      closed = true;
      const c = client;
      client = undefined;
      await c?.end().catch(() => {});
    },
  };
}

/**
 * Splits items into batches whose JSON stays under one NOTIFY's limit, each wrapped by `wrap`.
 * An item too large alone is left out (its sender warns).
 */
export function batchesUnder<T>(items: T[], wrap: (batch: T[]) => unknown, limit = MAX_PAYLOAD_BYTES - 400): unknown[] {
  const out: unknown[] = [];
  let batch: T[] = [];
  let bytes = 0;
  for (const item of items) {
    const size = Buffer.byteLength(JSON.stringify(item)) + 1;
    if (size > limit) continue;
    if (bytes + size > limit && batch.length) {
      out.push(wrap(batch));
      batch = [];
      bytes = 0;
    }
    batch.push(item);
    bytes += size;
  }
  if (batch.length) out.push(wrap(batch));
  return out;
}
