/**
 * The PC's side of a capture over the network: pieces go to a storage node's /uploads over HTTP,
 * each with its SHA-1 (the node checks it on arrival), retried a few times when the network
 * blinks. A capture cut off and started again reopens its upload and skips what arrived.
 */
import type { Manifest } from '../../shared/image/manifest.js';
import { ShoalError } from '../../shared/errors.js';
import { logger } from '../../shared/log.js';
import type { RemoteSink } from './capture-disk.js';

const log = logger('client');
const ATTEMPTS = 5;
const RETRY_BASE_MS = 500;
const REQUEST_TIMEOUT_MS = 60_000;
const PUBLISH_TIMEOUT_MS = 60 * 60_000;

export interface UploadTarget {
  /** The storage node's HTTP URL. */
  nodeUrl: string;
  /** The upload key the portal issued for this capture. */
  key: string;
  /** An upload to resume (its image id), if this capture was cut off before. */
  resume?: string;
  /** The version the portal assigned this capture. */
  version: number;
  /** Bytes/s for the pieces sent (tests slow a capture down with it); none by default. */
  limitBytesPerSec?: number;
  /** Told the image id as soon as the upload is open, to be kept for a resume. */
  onOpen?: (imageId: string) => void | Promise<void>;
}

export function uploadSink(t: UploadTarget): RemoteSink & { sentBytes: number } {
  let base = '';
  let nextSendAt = Date.now();
  const call = async (
    method: string,
    path: string,
    body: Uint8Array | string,
    headers: Record<string, string> = {},
    timeoutMs = REQUEST_TIMEOUT_MS,
  ): Promise<Response> => {
    let last = '';
    for (let attempt = 1; attempt <= ATTEMPTS; attempt++) {
      try {
        const res = await fetch(`${t.nodeUrl}${path}`, {
          method,
          body: body as BodyInit,
          headers: { authorization: `Bearer ${t.key}`, ...headers },
          signal: AbortSignal.timeout(timeoutMs),
        });
        if (res.ok) return res;
        last = `HTTP ${res.status}: ${await res.text()}`;
        if (res.status < 500) break; // the node refused it: sending it again will not help
      } catch (err) {
        last = `${(err as Error).message}${(err as Error).cause ? ` (${((err as Error).cause as Error).message})` : ''}`;
      }
      log.warn({ path, attempt, last }, 'upload request failed; retrying');
      await new Promise((r) => setTimeout(r, RETRY_BASE_MS * 2 ** (attempt - 1)));
    }
    throw new ShoalError(`storage node ${t.nodeUrl}: ${method} ${path}: ${last}`);
  };
  const sink = {
    skipped: 0,
    sentBytes: 0,
    async open(name: string, pieceLength: number) {
      const res = await call('POST', `/uploads/${encodeURIComponent(name)}`, JSON.stringify({ pieceLength, imageId: t.resume, version: t.version }), {
        'content-type': 'application/json',
      });
      const s = (await res.json()) as { imageId: string; version: number; received: Record<string, Record<number, string>> };
      base = `/uploads/${encodeURIComponent(name)}/${s.imageId}`;
      await t.onOpen?.(s.imageId);
      return s;
    },
    async put(file: string, index: number, sha1: string, bytes: Buffer) {
      if (t.limitBytesPerSec) {
        // Pieces are sent at most at the limit, one slot after another.
        const at = Math.max(Date.now(), nextSendAt);
        nextSendAt = at + (bytes.length / t.limitBytesPerSec) * 1000;
        await new Promise((r) => setTimeout(r, at - Date.now()));
      }
      await call('PUT', `${base}/${file}/${index}`, new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength), {
        'x-shoal-sha1': sha1,
        'content-type': 'application/octet-stream',
      });
      sink.sentBytes += bytes.length;
    },
    async publish(manifest: Manifest, torrent: Buffer) {
      // Re-reading a large image on the node takes minutes: no short timeout here.
      const res = await call(
        'POST',
        `${base}/publish`,
        JSON.stringify({ manifest, torrent: torrent.toString('base64') }),
        { 'content-type': 'application/json' },
        PUBLISH_TIMEOUT_MS,
      );
      return ((await res.json()) as { published: string }).published;
    },
  };
  return sink;
}
