/**
 * One client for the portal's API, for every caller outside the portal: PCs (client/), storage
 * nodes (seeder/), trackers, scripts and tests. Base URL, bearer token, JSON in, JSON out checked
 * against the answer's schema (portal-contract.ts, api.ts), a timeout on every call, and every
 * failure one Error: an `{error}` body with its status (PortalError), or that the portal could not
 * be reached. Callers keep their own retries; this holds what each call is.
 *
 * `ca`: HTTPS trusting one certificate, the one the portal made in its data directory (see
 * caOfDataDir). Harnesses in network namespaces reach the portal as another machine, where plain
 * HTTP carries no API token (portal/http/admin-over-tls.ts); Node's fetch takes no CA of its own,
 * so those calls go through node:https.
 */
import { readFileSync } from 'node:fs';
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
        return this.o.ca ? await fetchTrusting(url, this.o.ca, { method, headers, body, signal }) : await fetch(url, { method, headers, body, signal });
      } catch (err) {
        if (attempt < (this.o.retries ?? 0) && !signal.aborted) continue;
        const e = err as Error;
        throw new ShoalError(`cannot reach the portal at ${this.o.url}: ${e.cause ? (e.cause as Error).message : e.message}`);
      }
    }
  }

  /** One call that must succeed: its Response, or a PortalError with what the portal said. */
  async ok(method: string, path: string, c: CallOptions = {}): Promise<Response> {
    const res = await this.raw(method, path, c);
    if (!res.ok) throw new PortalError(res.status, errorText(await res.text()), `${method} ${path}`);
    return res;
  }

  /** A call answering JSON, checked against `schema`. */
  async call<S extends z.ZodType>(schema: S, method: string, path: string, c?: CallOptions): Promise<z.output<S>> {
    const res = await this.ok(method, path, c);
    const text = await res.text();
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
    const res = await this.ok(method, path, c);
    return res.status === 204 ? undefined : ((await res.json()) as unknown);
  }

  /** A call answering 204 (or anything not looked at). */
  async send(method: string, path: string, c?: CallOptions): Promise<void> {
    const res = await this.ok(method, path, c);
    await res.body?.cancel();
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

/** fetch over HTTPS trusting `ca` only (node:https; the Response built from what came back). */
function fetchTrusting(
  url: URL,
  ca: string | Buffer,
  init: { method: string; headers: Record<string, string>; body?: string; signal: AbortSignal },
): Promise<Response> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(url, { method: init.method, headers: init.headers, ca, signal: init.signal }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', reject);
      res.on('end', () => {
        const status = res.statusCode ?? 500;
        const headers = new Headers(Object.entries(res.headers).flatMap<[string, string]>(([k, v]) => (v === undefined ? [] : [[k, String(v)]])));
        resolve(new Response(status === 204 || status === 304 ? null : Buffer.concat(chunks), { status, headers }));
      });
    });
    req.on('error', reject);
    req.end(init.body);
  });
}
