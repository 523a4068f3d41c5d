/**
 * HTTP calls to a portal as the root tests make them: one reply shape, one error shape. Over the
 * one portal client (its raw calls: these tests look at every status, not only successes).
 */
import * as assert from 'uvu/assert';
import { PortalClient } from '../../shared/http/portal-client.js';
import { proofOfPieces } from '../../client/deploy/resume.js';
import { torrentPieces } from '../../shared/image/manifest.js';
import { openImage } from '../../shared/image/store.js';

export interface Reply {
  status: number;
  body: any;
  headers: Headers;
}

/** One HTTP call; `as` is a bearer token or a session cookie ("shoal_session=..."). */
export async function call(
  base: string,
  method: string,
  path: string,
  o: { as?: string; body?: unknown; csv?: string; raw?: string; headers?: Record<string, string> } = {},
): Promise<Reply> {
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
  return { status: res.status, body, headers: res.headers };
}

export async function login(base: string, username: string, password: string): Promise<string> {
  const r = await call(base, 'POST', '/api/v1/session', { body: { username, password } });
  assert.is(r.status, 200, JSON.stringify(r.body));
  return r.headers.get('set-cookie')!.split(';')[0]!;
}

export const expectError = (r: Reply, status: number, text: RegExp, what: string): void => {
  assert.is(r.status, status, `${what}: ${JSON.stringify(r.body)}`);
  assert.type(r.body?.error, 'string', `${what}: one error shape`);
  assert.match(r.body.error, text, what);
};

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
