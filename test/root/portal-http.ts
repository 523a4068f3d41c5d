/**
 * HTTP calls to a portal as the root tests make them: one reply shape, one error shape. Over the
 * one portal client (its raw calls: these tests look at every status, not only successes).
 *
 * A call that reads its answer names the answer's schema from the contract (portal-contract.ts,
 * api.ts): the body is checked against it, from the test's side too, and typed by it. The body
 * stays as it came, not as the parse would return it: a parse drops fields the schema does not
 * name and fills in defaults, and an `assert.equal` on the parsed copy would no longer see either.
 */
import * as assert from 'uvu/assert';
import type { z } from 'zod';
import { PortalClient } from '../../shared/http/portal-client.js';
import { HostTaskSchema } from '../../shared/http/portal-contract.js';
import { proofOfPieces } from '../../client/deploy/resume.js';
import { torrentPieces } from '../../shared/image/manifest.js';
import { openImage } from '../../shared/image/store.js';

export interface Reply<T = unknown> {
  status: number;
  /** The JSON answer; the text where it is not JSON (CSV, iPXE). */
  body: T;
  /** The answer as sent. */
  text: string;
  headers: Headers;
}

/** The body as it came, once `schema` accepts it: what the schema takes in is what came. */
export function checked<S extends z.ZodType>(schema: S, body: unknown, what: string): z.input<S> {
  const parsed = schema.safeParse(body);
  if (!parsed.success) throw new Error(`${what}: the answer is not what the contract says: ${parsed.error.message}\n${JSON.stringify(body)}`);
  return body as z.input<S>;
}

type CallOptions = { as?: string; body?: unknown; csv?: string; raw?: string; headers?: Record<string, string> };

/**
 * One HTTP call; `as` is a bearer token or a session cookie ("shoal_session=..."); `schema`: the
 * answer's, which the body must fit whatever the status (a test names it where it reads a success).
 */
export async function call<S extends z.ZodType>(base: string, method: string, path: string, o: CallOptions & { schema: S }): Promise<Reply<z.input<S>>>;
export async function call(base: string, method: string, path: string, o?: CallOptions): Promise<Reply>;
export async function call(base: string, method: string, path: string, o: CallOptions & { schema?: z.ZodType } = {}): Promise<Reply> {
  const portal = new PortalClient({ url: base, ...(o.as?.startsWith('shoal_session=') ? { cookie: o.as } : { token: o.as }), timeoutMs: 60_000 });
  const sent = o.csv !== undefined ? { type: 'text/csv', data: o.csv } : o.raw !== undefined ? { type: 'application/json', data: o.raw } : undefined;
  const res = await portal.raw(method, path, { body: o.body, ...(sent && { text: sent }), ...(o.headers && { headers: o.headers }) });
  const text = await res.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    /* CSV, iPXE */
  }
  if (o.schema) checked(o.schema, body, `${method} ${path} (HTTP ${res.status})`);
  return { status: res.status, body, text, headers: res.headers };
}

/**
 * What GET /hosts/:mac/task answers a PC that has a deploy waiting: the union's member whose kind is
 * the literal 'deploy' (moved in the union, its type would change and the tests reading it would not compile).
 */
export const DeployTaskSchema = HostTaskSchema.options[1];

export async function login(base: string, username: string, password: string): Promise<string> {
  const r = await call(base, 'POST', '/api/v1/session', { body: { username, password } });
  assert.is(r.status, 200, JSON.stringify(r.body));
  return r.headers.get('set-cookie')!.split(';')[0]!;
}

/** The `error` field of a body, if it is an object that has one. */
const errorOf = (body: unknown): unknown => (typeof body === 'object' && body !== null && 'error' in body ? body.error : undefined);

export const expectError = (r: Pick<Reply, 'status' | 'body'>, status: number, text: RegExp, what: string): void => {
  assert.is(r.status, status, `${what}: ${JSON.stringify(r.body)}`);
  const error = errorOf(r.body);
  assert.type(error, 'string', `${what}: one error shape`);
  assert.match(error as string, text, what);
};

/** A PC's progress report in `state`, nothing done yet. */
export const progressReport = (state: string) => ({
  state,
  piecesDone: 0,
  piecesTotal: 10,
  bytesDone: 0,
  bytesTotal: 10,
  downloadBytesPerSec: 0,
  uploadBytesPerSec: 0,
  downloadedBytes: 0,
  uploadedBytes: 0,
  peers: 0,
});

/**
 * What a PC answers to the portal's challenge (portal/tasks/proof.ts), from a disk that holds `image`
 * where a multipart deploy would put it (its source disk does): the client's own proofOfPieces.
 */
export async function proofFromDisk(
  store: string,
  image: string,
  diskPath: string,
  challenge: { nonce: string; pieces: number[] },
): Promise<{ nonce: string; digest: string }> {
  const m = (await openImage(store, image)).manifest;
  const disk = m.disks[0]!;
  const parts = disk.partitions;
  // As client/deploy/target-disks.ts places areas: a partition where the table puts it, the head right after the table.
  const tableEnd = disk.table.kind === 'gpt' ? (disk.table.firstLba ?? 34) * disk.logicalSectorBytes : disk.logicalSectorBytes;
  const pieces = [...torrentPieces(m)].map(({ area, piece, index }) => ({
    ref: { imageId: m.imageId, index, entry: piece },
    place: {
      areaId: area.id,
      diskOffset: area.kind === 'partition' ? parts.find((p) => p.number === area.partitionNumber)!.startBytes : area.kind === 'head' ? tableEnd : 0,
      limitBytes: Number.MAX_SAFE_INTEGER,
    },
    diskPath,
    diskBytes: Number.MAX_SAFE_INTEGER,
  }));
  return { nonce: challenge.nonce, digest: proofOfPieces(pieces, challenge.pieces, challenge.nonce) };
}
