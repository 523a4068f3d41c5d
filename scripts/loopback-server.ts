/**
 * `shoal start` on this machine's loopback for the benchmarks and tests: its arguments with four
 * free ports (portal, tracker, seeder HTTP, BitTorrent), so that runs never collide on a port.
 */
import { createServer } from 'node:net';

/**
 * The environment a portal started for a test runs with: its answers are held to their contract
 * (shared/http/portal-contract.ts), a mismatch a 500 naming the route and the field, so any test
 * that touches a route that drifted fails there (portal/http/api-router.ts).
 */
export const CHECKED_PORTAL_ENV = { SHOAL_CHECK_RESPONSES: '1' } as const;

/** A TCP port free on 127.0.0.1 now. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

export interface LoopbackServer {
  /** `start --data … --advertise 127.0.0.1 --no-wake` and the four ports, then `extra`. */
  args: string[];
  port: number;
  trackerPort: number;
  seederPort: number;
  btPort: number;
  /** The portal's plain-HTTP URL. */
  portal: string;
  /** What `shoal start`'s environment adds: the portal's answers checked against their contract. */
  env: Record<string, string>;
}

export async function loopbackServer(o: { data: string; store?: string; extra?: string[] }): Promise<LoopbackServer> {
  const [port, trackerPort, seederPort, btPort] = [await freePort(), await freePort(), await freePort(), await freePort()];
  const args = ['start', '--data', o.data, ...(o.store ? ['--store', o.store] : []), '--advertise', '127.0.0.1', '--no-wake'];
  args.push(
    '--port',
    String(port),
    '--tracker-port',
    String(trackerPort),
    '--seeder-port',
    String(seederPort),
    '--bt-port',
    String(btPort),
    ...(o.extra ?? []),
  );
  return { args, port, trackerPort, seederPort, btPort, portal: `http://127.0.0.1:${port}`, env: { ...CHECKED_PORTAL_ENV } };
}
