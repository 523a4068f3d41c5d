// The one portal client against real HTTP and HTTPS servers on loopback: the bearer it sends, the
// schema it holds answers to, one PortalError with the status for an {error} answer, its timeout,
// its retry when nothing answered, and HTTPS trusting only the certificate it is given (a
// certificate made as the portal makes its own, in a data directory).
import { test } from '../suite.js';
import * as assert from 'uvu/assert';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { z } from 'zod';
import { caOfDataDir, PortalClient, PortalError } from '../../shared/http/portal-client.js';
import { portalTls } from '../../portal/http/tls.js';

type Handler = (req: IncomingMessage, res: ServerResponse, body: string) => void;

function answer(res: ServerResponse, status: number, json: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(json));
}

async function listen(server: Server, handler: Handler): Promise<number> {
  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    let body = '';
    req.on('data', (d: Buffer) => (body += d.toString()));
    req.on('end', () => handler(req, res, body));
  });
  server.listen(0, '127.0.0.1');
  await new Promise((r) => server.once('listening', r));
  return (server.address() as AddressInfo).port;
}

const Hosts = z.object({ hosts: z.array(z.object({ mac: z.string() })) });

test('JSON in with the bearer, JSON out checked; an {error} is a PortalError with its status; a reply off the schema is refused', async () => {
  const seen: Array<{ auth?: string; type?: string; body: string }> = [];
  const server = createServer();
  const port = await listen(server, (req, res, body) => {
    seen.push({ auth: req.headers.authorization, type: req.headers['content-type'], body });
    if (req.url === '/ok') answer(res, 200, { hosts: [{ mac: 'a' }] });
    else if (req.url === '/odd') answer(res, 200, { hosts: [{ mac: 1 }] });
    else if (req.url === '/none') res.writeHead(204).end();
    else answer(res, 409, { error: 'host a is busy' });
  });
  try {
    const portal = new PortalClient({ url: `http://127.0.0.1:${port}`, token: 'tok' });
    assert.equal(await portal.post(Hosts, '/ok', { mac: 'a' }), { hosts: [{ mac: 'a' }] });
    assert.equal(seen[0], { auth: 'Bearer tok', type: 'application/json', body: '{"mac":"a"}' });
    await portal.get(Hosts, '/ok', { token: 'task-key' });
    assert.is(seen[1]!.auth, 'Bearer task-key', 'a call may carry its own bearer');
    assert.is(await portal.json('DELETE', '/none'), undefined);
    const refused = await portal.get(Hosts, '/busy').catch((err: unknown) => err);
    assert.instance(refused, PortalError);
    assert.is((refused as PortalError).status, 409);
    assert.is((refused as PortalError).said, 'host a is busy');
    assert.is((refused as Error).message, 'portal: GET /busy: host a is busy (HTTP 409)');
    await portal.get(Hosts, '/odd').then(
      () => assert.unreachable('a reply off its schema was taken'),
      (err: Error) => assert.match(err.message, /GET \/odd: unexpected reply \(hosts\.0\.mac: /),
    );
  } finally {
    server.close();
  }
});

test('a call that gets no answer in time fails with the portal named; nothing listening is said so too', async () => {
  const server = createServer();
  const port = await listen(server, () => {
    /* never answers */
  });
  try {
    const started = Date.now();
    await new PortalClient({ url: `http://127.0.0.1:${port}`, timeoutMs: 300 }).get(Hosts, '/slow').then(
      () => assert.unreachable('answered'),
      (err: Error) => assert.match(err.message, new RegExp(`cannot reach the portal at http://127.0.0.1:${port}`)),
    );
    assert.ok(Date.now() - started < 5_000, 'the timeout holds');
  } finally {
    server.closeAllConnections();
    server.close();
  }
  await new PortalClient({ url: `http://127.0.0.1:${port}`, retries: 1 }).get(Hosts, '/').then(
    () => assert.unreachable('answered'),
    (err: Error) => assert.match(err.message, /cannot reach the portal/),
  );
});

test("HTTPS trusting the portal's own certificate (ca), and not without it", async () => {
  const data = mkdtempSync(join(tmpdir(), 'shoal-client-'));
  const tls = await portalTls(data, undefined);
  const server = createHttpsServer({ cert: tls.cert, key: tls.key });
  const port = await listen(server, (req, res) => answer(res, 200, { hosts: [{ mac: req.headers.authorization ?? '' }] }));
  try {
    // Given as http://, as the harnesses know the portal: reached as https:// on the same port.
    const portal = new PortalClient({ url: `http://127.0.0.1:${port}`, token: 't', ca: caOfDataDir(data) });
    assert.equal(await portal.get(Hosts, '/api/v1/hosts'), { hosts: [{ mac: 'Bearer t' }] });
    await new PortalClient({ url: `https://127.0.0.1:${port}` }).get(Hosts, '/').then(
      () => assert.unreachable('a self-signed certificate was trusted without being given'),
      (err: Error) => assert.match(err.message, /cannot reach the portal/),
    );
  } finally {
    server.close();
    rmSync(data, { recursive: true, force: true });
  }
});

test('calls share a kept-alive socket; one the portal closed while idle is not a failure', async () => {
  const server = createServer();
  const sockets = new Set<unknown>();
  server.on('connection', (s) => sockets.add(s));
  const port = await listen(server, (req, res, body) => answer(res, 200, { hosts: [{ mac: body || req.method! }] }));
  try {
    const portal = new PortalClient({ url: `http://127.0.0.1:${port}` });
    for (let i = 0; i < 5; i++) assert.equal(await portal.post(Hosts, '/', { i }), { hosts: [{ mac: JSON.stringify({ i }) }] });
    assert.is(sockets.size, 1, 'five calls, one connection');
    // The portal drops its idle connections (as its keep-alive timeout does) without a word.
    server.closeIdleConnections();
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(await portal.get(Hosts, '/'), { hosts: [{ mac: 'GET' }] });
    assert.is(sockets.size, 2, 'a new connection');
  } finally {
    server.closeAllConnections();
    server.close();
  }
});

test('a request cut off on a kept-alive socket is sent once more on a new one; on a new socket it fails', async () => {
  const server = createServer();
  const seen = new WeakMap<object, number>();
  let requests = 0;
  let dropAll = false;
  const port = await listen(server, (req, res) => {
    requests++;
    const n = (seen.get(req.socket) ?? 0) + 1;
    seen.set(req.socket, n);
    // As a portal closing a kept socket just as a request arrives: no answer, the connection gone.
    if (n === 2 || dropAll) return req.socket.destroy();
    answer(res, 200, { hosts: [] });
  });
  try {
    const portal = new PortalClient({ url: `http://127.0.0.1:${port}` });
    await portal.get(Hosts, '/');
    assert.equal(await portal.post(Hosts, '/', { again: true }), { hosts: [] });
    assert.is(requests, 3, 'the cut-off request came again on a new connection');
    dropAll = true;
    await new PortalClient({ url: `http://127.0.0.1:${port}`, timeoutMs: 2_000 }).get(Hosts, '/', { headers: { connection: 'close' } }).then(
      () => assert.unreachable('answered'),
      (err: Error) => assert.match(err.message, /cannot reach the portal at .*socket hang up/),
    );
  } finally {
    server.closeAllConnections();
    server.close();
  }
});

test.run();
