/**
 * fetch() for the lab harnesses' admin calls to a portal in another namespace, which is another
 * machine to it: plain HTTP from there carries no API token (portal/http/admin-over-tls.ts), so these go
 * over HTTPS on the same port, trusting the certificate the portal made in its data directory, as
 * an admin does once the fingerprint is checked.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { request } from 'node:https';

export interface AdminInit {
  method?: string;
  headers?: Record<string, string>;
  body?: string;
  signal?: AbortSignal;
}

export function adminFetch(url: string, dataDir: string, init: AdminInit = {}): Promise<Response> {
  const u = new URL(url.replace(/^http:/, 'https:'));
  const ca = readFileSync(join(dataDir, 'tls', 'cert.pem'));
  return new Promise((resolve, reject) => {
    const req = request(u, { method: init.method ?? 'GET', headers: init.headers, ca, signal: init.signal }, (res) => {
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
