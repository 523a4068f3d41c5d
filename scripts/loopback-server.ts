/**
 * `shoal start` on this machine's loopback for the benchmarks and tests: its arguments with four
 * free ports (portal, tracker, seeder HTTP, BitTorrent), so that runs never collide on a port.
 */
import { createServer } from 'node:net';

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
  return { args, port, trackerPort, seederPort, btPort, portal: `http://127.0.0.1:${port}` };
}
