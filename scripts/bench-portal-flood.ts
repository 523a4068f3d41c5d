/**
 * The login flood of bench-portal, in a worker thread of its own: the attacker is another machine,
 * and its TLS handshakes (each guess a new connection, as a guessing script sends them) must not
 * delay the simulated PCs' requests on the bench's main thread, whose latency is measured. It
 * shares the machine's two cores with the portal all the same.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { request } from 'node:https';

const { port, ca, flooders, startAt, until } = workerData as { port: number; ca: string; flooders: number; startAt: number; until: number };
const logins = new Map<number | string, number>();

/** A wrong login from `local`; resolves with the status. Over HTTPS, as a login from another machine must be. */
const wrongLogin = (local: string, username: string): Promise<number | string> =>
  new Promise((resolve) => {
    const body = JSON.stringify({ username, password: `guess-${Math.random()}` });
    const req = request(
      {
        host: '127.0.0.1',
        port,
        path: '/api/v1/session',
        method: 'POST',
        localAddress: local,
        ca,
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
      },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      },
    );
    req.on('error', (err) => resolve(err.message));
    req.end(body);
  });

await new Promise((r) => setTimeout(r, Math.max(0, startAt - Date.now())));
await Promise.all(
  Array.from({ length: flooders }, async (_, i) => {
    // Bounded by `until`.
    while (Date.now() < until) {
      const status = await wrongLogin(`127.0.1.${i + 1}`, i % 5 === 0 ? 'admin' : `user-${i}-${Math.floor(Math.random() * 1e6)}`);
      logins.set(status, (logins.get(status) ?? 0) + 1);
    }
  }),
);
parentPort!.postMessage(Object.fromEntries(logins));
