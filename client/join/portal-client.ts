/**
 * The client's side of the portal API. Every reply is checked against the schema the portal
 * answers with (shared/http/api.ts); every failure becomes one clear line: which call, what the portal
 * said, or that it could not be reached.
 */
import type { z } from 'zod';
import {
  API,
  ApiErrorSchema,
  HostTaskSchema,
  ProgressReplySchema,
  SwarmTicketSchema,
  type HostTask,
  type Inventory,
  type Progress,
  type ProgressReply,
  type SwarmTicket,
} from '../../shared/http/api.js';
import { ShoalError } from '../../shared/errors.js';

const REQUEST_TIMEOUT_MS = 15_000;

export class PortalClient {
  constructor(
    readonly url: string,
    private readonly token?: string,
  ) {}

  private async call(method: string, path: string, opts: { body?: unknown; bearer?: string } = {}): Promise<Response> {
    const bearer = opts.bearer ?? this.token;
    let res: Response;
    try {
      res = await fetch(new URL(path, this.url), {
        method,
        headers: { ...(opts.body !== undefined ? { 'content-type': 'application/json' } : {}), ...(bearer ? { authorization: `Bearer ${bearer}` } : {}) },
        body: opts.body !== undefined ? JSON.stringify(opts.body) : undefined,
        signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
      });
    } catch (err) {
      throw new ShoalError(
        `cannot reach the portal at ${this.url}: ${(err as Error).cause ? ((err as Error).cause as Error).message : (err as Error).message}`,
      );
    }
    if (!res.ok) {
      const text = await res.text();
      let said = text.slice(0, 300);
      try {
        said = ApiErrorSchema.parse(JSON.parse(text)).error;
      } catch {
        /* not our JSON: show the start of the body */
      }
      throw new ShoalError(`portal: ${method} ${path}: ${said} (HTTP ${res.status})`);
    }
    return res;
  }

  private async json<S extends z.ZodType>(schema: S, method: string, path: string, opts?: { body?: unknown; bearer?: string }): Promise<z.infer<S>> {
    const res = await this.call(method, path, opts);
    const parsed = schema.safeParse(await res.json());
    if (!parsed.success) throw new ShoalError(`portal: ${method} ${path}: unexpected reply (${parsed.error.issues[0]?.message})`);
    return parsed.data;
  }

  /** A ticket for deploying an image by hand (admin token). */
  ticket(image: string, version?: number): Promise<SwarmTicket> {
    return this.json(SwarmTicketSchema, 'POST', `${API}/images/${encodeURIComponent(image)}/ticket`, { body: { version } });
  }

  /** A standard .torrent with a fresh key (admin token). */
  async torrent(image: string, opts: { version?: number; webSeeds?: boolean } = {}): Promise<Buffer> {
    const query = new URLSearchParams({ webSeeds: String(opts.webSeeds ?? true), ...(opts.version ? { version: String(opts.version) } : {}) });
    const res = await this.call('GET', `${API}/images/${encodeURIComponent(image)}/torrent?${query}`);
    return Buffer.from(await res.arrayBuffer());
  }

  async register(mac: string, inventory?: Inventory): Promise<void> {
    await this.call('POST', `${API}/hosts/register`, { body: { mac, ...(inventory && { inventory }) } });
  }

  /** `bootKey`: the key a Shoal-booted PC found on its kernel command line; the portal checks it is this MAC's. */
  task(mac: string, bootKey?: string): Promise<HostTask> {
    return this.json(HostTaskSchema, 'GET', `${API}/hosts/${encodeURIComponent(mac)}/task`, { ...(bootKey && { bearer: bootKey }) });
  }

  progress(taskId: number, mac: string, key: string, progress: Progress): Promise<ProgressReply> {
    return this.json(ProgressReplySchema, 'POST', `${API}/tasks/${taskId}/hosts/${encodeURIComponent(mac)}/progress`, { body: progress, bearer: key });
  }
}
