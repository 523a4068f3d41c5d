/**
 * HTTP and HTTPS on one port: PCs speak plain HTTP (iPXE here cannot do TLS), admins' browsers
 * HTTPS, and neither needs a second port opened or remembered. The first byte of a connection
 * tells them apart (22 opens every TLS handshake; no HTTP method starts with it).
 * Written here rather than taken from a package: the ones that do this also route HTTP/2 and SOCKS,
 * which the portal would then have to guard as well.
 */
import { createServer as createHttpServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { createServer as createNetServer, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import type { Listening } from '../../shared/http/server.js';

const TLS_HANDSHAKE = 0x16;
/** A connection that says nothing this long is closed (the HTTP servers' own timeouts start later). */
const FIRST_BYTE_MS = 10_000;

export async function listenOnePort(
  handle: (req: IncomingMessage, res: ServerResponse) => Promise<void>,
  tls: { cert: string; key: string } | undefined,
  port: number,
  host: string,
): Promise<Listening & { tlsUrl?: string }> {
  // Koa's handler answers its own errors; nothing of its promise is left to catch here.
  const handler = (req: IncomingMessage, res: ServerResponse): void => void handle(req, res);
  const http = createHttpServer(handler);
  const https = tls && createHttpsServer({ cert: tls.cert, key: tls.key, minVersion: 'TLSv1.2' }, handler);
  const sockets = new Set<Socket>();
  const server = createNetServer((socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    socket.on('error', () => socket.destroy());
    const timer = setTimeout(() => socket.destroy(), FIRST_BYTE_MS);
    const sniff = (): void => {
      const first = socket.read(1) as Buffer | null;
      if (!first) return void socket.once('readable', sniff);
      clearTimeout(timer);
      socket.unshift(first);
      if (first[0] === TLS_HANDSHAKE && https) https.emit('connection', socket);
      else if (first[0] === TLS_HANDSHAKE) socket.destroy();
      else http.emit('connection', socket);
    };
    sniff();
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  const bound = (server.address() as AddressInfo).port;
  const shown = host === '0.0.0.0' ? '127.0.0.1' : host;
  return {
    port: bound,
    url: `http://${shown}:${bound}`,
    ...(https && { tlsUrl: `https://${shown}:${bound}` }),
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
