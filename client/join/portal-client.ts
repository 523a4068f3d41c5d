/**
 * The client's side of the portal API: the calls a PC and `shoal deploy --portal` / `shoal torrent`
 * make, over the one portal client (shared/http/portal-client.ts), which checks every reply
 * against the schema the portal answers with and turns every failure into one clear line: which
 * call, what the portal said, or that it could not be reached.
 */
import {
  API,
  HostTaskSchema,
  ProgressReplySchema,
  SwarmTicketSchema,
  type HostTask,
  type Inventory,
  type Progress,
  type ProgressReply,
  type SwarmTicket,
} from '../../shared/http/api.js';
import { PortalClient as Portal } from '../../shared/http/portal-client.js';

const REQUEST_TIMEOUT_MS = 15_000;

export class PortalClient {
  private readonly portal: Portal;

  constructor(
    readonly url: string,
    token?: string,
  ) {
    this.portal = new Portal({ url, token, timeoutMs: REQUEST_TIMEOUT_MS });
  }

  /** A ticket for deploying an image by hand (admin token). */
  ticket(image: string, version?: number): Promise<SwarmTicket> {
    return this.portal.post(SwarmTicketSchema, `${API}/images/${encodeURIComponent(image)}/ticket`, { version });
  }

  /** A standard .torrent with a fresh key (admin token). */
  async torrent(image: string, opts: { version?: number; webSeeds?: boolean } = {}): Promise<Buffer> {
    const query = new URLSearchParams({ webSeeds: String(opts.webSeeds ?? true), ...(opts.version ? { version: String(opts.version) } : {}) });
    return (await this.portal.ok('GET', `${API}/images/${encodeURIComponent(image)}/torrent?${query}`)).body;
  }

  async register(mac: string, inventory?: Inventory): Promise<void> {
    await this.portal.send('POST', `${API}/hosts/register`, { body: { mac, ...(inventory && { inventory }) } });
  }

  /** `bootKey`: the key a Shoal-booted PC found on its kernel command line; the portal checks it is this MAC's. */
  task(mac: string, bootKey?: string): Promise<HostTask> {
    return this.portal.get(HostTaskSchema, `${API}/hosts/${encodeURIComponent(mac)}/task`, { ...(bootKey && { token: bootKey }) });
  }

  progress(taskId: number, mac: string, key: string, progress: Progress): Promise<ProgressReply> {
    return this.portal.post(ProgressReplySchema, `${API}/tasks/${taskId}/hosts/${encodeURIComponent(mac)}/progress`, progress, { token: key });
  }
}
