/**
 * One client for the portal's API, for every caller outside the portal: PCs (client/), storage
 * nodes (seeder/), trackers, scripts and tests. Base URL, bearer token, JSON in, JSON out checked
 * against the answer's schema (portal-contract.ts, api.ts), a timeout on every call, and every
 * failure one Error: an `{error}` body with its status (PortalError), or that the portal could not
 * be reached. Callers keep their own retries; this holds what each call is.
 *
 * `ca`: HTTPS trusting one certificate, the one the portal made in its data directory (see
 * caOfDataDir). Harnesses in network namespaces reach the portal as another machine, where plain
 * HTTP carries no API token (portal/http/admin-over-tls.ts).
 *
 * Calls go through node:http and node:https, not fetch(): a PC reports its progress every second,
 * and through fetch that report cost the PC 3–4 ms of CPU a second, a quarter of what a PC held to
 * a lab's link rate spends in all (docs/benchmarks.md, 2026-12-05). Sockets are kept alive (Node's
 * global agents); a request written to a kept socket the portal had just closed is sent again once
 * on a new one, as the portal never saw it.
 */
import { readFileSync } from 'node:fs';
import { request as httpRequest, type ClientRequest, type IncomingHttpHeaders, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { join } from 'node:path';
import type { z } from 'zod';
import { ShoalError } from '../errors.js';
import { ApiErrorSchema } from './api.js';

export const DEFAULT_TIMEOUT_MS = 15_000;

/** A call the portal answered with a failure: its status, and what it said. */
export class PortalError extends ShoalError {
  constructor(
    readonly status: number,
    readonly said: string,
    readonly call: string,
  ) {
    super(`portal: ${call}: ${said} (HTTP ${status})`);
  }
}

export interface PortalClientOptions {
  /** The portal's URL (http://host:port); the path of each call is resolved against it. */
  url: string;
  /** An API token, a storage node's key or a PC's task key, sent as a bearer. */
  token?: string;
  /** A session cookie (name=value) instead of a token. */
  cookie?: string;
  timeoutMs?: number;
  /** The one certificate trusted for HTTPS; an http:// URL is then reached as https:// on the same port. */
  ca?: string | Buffer;
  /**
   * Tries again this many times when the portal could not be reached (not when it answered): the
   * tests' keep-alive sockets may be closed by the server while their event loop is blocked.
   */
  retries?: number;
}

export interface CallOptions {
  /** JSON, sent with its content type. */
  body?: unknown;
  /** A body that is not JSON (CSV), with its type. */
  text?: { type: string; data: string };
  /** The bearer for this call only (a PC's task key). */
  token?: string;
  headers?: Record<string, string>;
  timeoutMs?: number;
  signal?: AbortSignal;
}

/** The certificate a portal made in its data directory (DATA/tls/cert.pem), for `ca`. */
export const caOfDataDir = (dataDir: string): Buffer => readFileSync(join(dataDir, 'tls', 'cert.pem'));

export class PortalClient {
  readonly url: string;

  constructor(private readonly o: PortalClientOptions) {
    this.url = o.ca ? o.url.replace(/^http:/, 'https:') : o.url;
  }

  /** The same portal with another credential. */
  as(credential: { token?: string; cookie?: string }): PortalClient {
    return new PortalClient({ ...this.o, token: credential.token, cookie: credential.cookie });
  }

  /** One call, whatever it answers: the Response, for a status to look at or a body that is not JSON. */
  async raw(method: string, path: string, c: CallOptions = {}): Promise<Response> {
    const a = await this.answer(method, path, c);
    const headers = new Headers(Object.entries(a.headers).flatMap<[string, string]>(([k, v]) => (v === undefined ? [] : [[k, String(v)]])));
    return new Response(a.status === 204 || a.status === 304 ? null : new Uint8Array(a.body), { status: a.status, headers });
  }

  /** One call, whatever it answers: its status, headers and whole body. */
  async answer(method: string, path: string, c: CallOptions = {}): Promise<PortalAnswer> {
    const token = c.token ?? this.o.token;
    const headers: Record<string, string> = {
      ...(c.body !== undefined && { 'content-type': 'application/json' }),
      ...(c.text && { 'content-type': c.text.type }),
      ...(token && { authorization: `Bearer ${token}` }),
      ...(this.o.cookie && { cookie: this.o.cookie }),
      ...c.headers,
    };
    const body = c.text ? c.text.data : c.body !== undefined ? JSON.stringify(c.body) : undefined;
    const url = new URL(path, this.url);
    for (let attempt = 0; ; attempt++) {
      const timeout = AbortSignal.timeout(c.timeoutMs ?? this.o.timeoutMs ?? DEFAULT_TIMEOUT_MS);
      const signal = c.signal ? AbortSignal.any([c.signal, timeout]) : timeout;
      try {
        return await exchange(url, { method, headers, body, signal, ca: this.o.ca });
      } catch (err) {
        if (attempt < (this.o.retries ?? 0) && !signal.aborted) continue;
        const e = err as Error;
        throw new ShoalError(`cannot reach the portal at ${this.o.url}: ${e.cause ? (e.cause as Error).message : e.message}`);
      }
    }
  }

  /** One call that must succeed: what it answered, or a PortalError with what the portal said. */
  async ok(method: string, path: string, c: CallOptions = {}): Promise<PortalAnswer> {
    const a = await this.answer(method, path, c);
    if (a.status < 200 || a.status > 299) throw new PortalError(a.status, errorText(a.body.toString()), `${method} ${path}`);
    return a;
  }

  /** A call answering JSON, checked against `schema`. */
  async call<S extends z.ZodType>(schema: S, method: string, path: string, c?: CallOptions): Promise<z.output<S>> {
    const text = (await this.ok(method, path, c)).body.toString();
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      throw new ShoalError(`portal: ${method} ${path}: the answer is not JSON (${text.slice(0, 80)})`);
    }
    const parsed = schema.safeParse(json);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      throw new ShoalError(
        `portal: ${method} ${path}: unexpected reply (${issue ? `${issue.path.join('.') || 'the answer'}: ${issue.message}` : 'no detail'})`,
      );
    }
    return parsed.data;
  }

  /**
   * A call whose JSON the caller takes as it comes, or undefined for a 204: for harnesses against
   * a portal that checks its own answers (SHOAL_CHECK_RESPONSES=1), where a schema here would say
   * the same twice.
   */
  async json(method: string, path: string, c?: CallOptions): Promise<unknown> {
    const a = await this.ok(method, path, c);
    return a.status === 204 ? undefined : (JSON.parse(a.body.toString()) as unknown);
  }

  /** A call answering 204 (or anything not looked at). */
  async send(method: string, path: string, c?: CallOptions): Promise<void> {
    await this.ok(method, path, c);
  }

  get<S extends z.ZodType>(schema: S, path: string, c?: CallOptions): Promise<z.output<S>> {
    return this.call(schema, 'GET', path, c);
  }

  post<S extends z.ZodType>(schema: S, path: string, body: unknown = {}, c?: CallOptions): Promise<z.output<S>> {
    return this.call(schema, 'POST', path, { ...c, body });
  }

  patch<S extends z.ZodType>(schema: S, path: string, body: unknown, c?: CallOptions): Promise<z.output<S>> {
    return this.call(schema, 'PATCH', path, { ...c, body });
  }
}

/** What a failure said: the `{error}` text, or the start of a body that is not ours (a proxy's page). */
function errorText(text: string): string {
  try {
    return ApiErrorSchema.parse(JSON.parse(text)).error;
  } catch {
    return text.slice(0, 300);
  }
}

/** What the portal answered to one call. */
export interface PortalAnswer {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

interface Exchange {
  method: string;
  headers: Record<string, string>;
  body?: string;
  signal: AbortSignal;
  ca?: string | Buffer;
}

/** One request and its whole answer, over http or https (trusting `ca` only, when given). */
async function exchange(url: URL, x: Exchange): Promise<PortalAnswer> {
  for (let fresh = false; ; fresh = true) {
    let req: ClientRequest | undefined;
    try {
      return await new Promise<PortalAnswer>((resolve, reject) => {
        const headers = x.body === undefined ? x.headers : { ...x.headers, 'content-length': String(Buffer.byteLength(x.body)) };
        const opts = { method: x.method, headers, signal: x.signal, ...(x.ca && { ca: x.ca }) };
        const onAnswer = (res: IncomingMessage): void => {
          const chunks: Buffer[] = [];
          res.on('data', (chunk: Buffer) => chunks.push(chunk));
          res.on('error', reject);
          res.on('aborted', () => reject(new Error('the answer was cut off')));
          res.on('end', () => resolve({ status: res.statusCode ?? 500, headers: res.headers, body: Buffer.concat(chunks) }));
        };
        req = url.protocol === 'https:' ? httpsRequest(url, opts, onAnswer) : httpRequest(url, opts, onAnswer);
        req.on('error', reject);
        req.end(x.body);
      });
    } catch (err) {
      // A kept-alive socket the portal closed as this was written: it never saw the request.
      const reset = (err as NodeJS.ErrnoException).code === 'ECONNRESET' || (err as NodeJS.ErrnoException).code === 'EPIPE';
      if (!fresh && reset && req?.reusedSocket && !x.signal.aborted) continue;
      throw err;
    }
  }
}
