/** What every Shoal HTTP process does with its server: listen, say its URL, close, read a bearer token. */
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Context } from 'koa';

export interface Listening {
  port: number;
  /** How to reach it from this machine (127.0.0.1 when it listens on every address). */
  url: string;
  close: () => Promise<void>;
}

export async function listen(server: Server, port = 0, host = '0.0.0.0'): Promise<Listening> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  const bound = (server.address() as AddressInfo).port;
  return {
    port: bound,
    url: `http://${host === '0.0.0.0' ? '127.0.0.1' : host}:${bound}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

export function bearer(ctx: Context): string | undefined {
  const h = ctx.get('authorization');
  return h.startsWith('Bearer ') ? h.slice(7).trim() : undefined;
}
