/**
 * `shoal start`: the server of a lab on one machine. Portal, tracker and seeder run as the three
 * processes they are (each its own folder, talking over HTTP and BitTorrent only), started in the
 * order each needs the other, supervised: one that exits is named and started again with a
 * growing wait; when one cannot come back, the others are stopped and this exits non-zero.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';
import { ShoalError } from '../../shared/errors.js';
import { ADMIN_TOKEN_FILE, LAB_SECRET_FILE, readOrCreateSecret } from '../../shared/keys/lab-secret.js';
import { lanAddress } from '../../shared/lan-address.js';

export interface StartOptions {
  data: string;
  store?: string;
  port: number;
  trackerPort?: number;
  seederHttpPort?: number;
  seederBtPort?: number;
  uploadLimit?: number;
  advertise?: string;
  /** A postgres:// URL (default: SQLite in the data directory). */
  database?: string;
  /** The interface multicast sessions go out on. */
  multicastInterface?: string;
  /** The folder the seeder's import jobs may read FOG and Clonezilla folders from (default: no imports). */
  importRoot?: string;
  /** Network boot on this interface (dnsmasq: proxy DHCP, or full DHCP over dhcpRange; TFTP). */
  pxe?: string;
  dhcpRange?: string;
  bootDir?: string;
  /** false: the portal sends no Wake-on-LAN packets. */
  wake?: boolean;
  /** A new MAC: approve (the default) or open. */
  enrolment?: 'approve' | 'open';
  /** false: no HTTPS for admins; tlsCert and tlsKey: the certificate (default: made on first start). */
  tls?: boolean;
  tlsCert?: string;
  tlsKey?: string;
  /** Called once everything listens (tests); the default prints where. */
  onReady?: (urls: { portal: string; tracker: string; seeder: string }) => void;
}

const STARTUP_TIMEOUT_MS = 30_000;

function entry(folder: string): string {
  return fileURLToPath(new URL(`../../${folder}/main.js`, import.meta.url));
}

interface Started {
  url: string;
  firstAdmin?: { name: string; password?: string };
  tls?: { url: string; fingerprint: string; certFile: string; made: boolean };
}

/** Starts a process; `started` resolves with what it prints once listening (its URL, and more). */
function launch(name: string, args: string[]): { child: ChildProcess; started: Promise<Started> } {
  const child = spawn(process.execPath, [entry(name), ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
  const started = new Promise<Started>((resolve, reject) => {
    const timer = setTimeout(() => reject(new ShoalError(`the ${name} did not start within ${STARTUP_TIMEOUT_MS / 1000} s`)), STARTUP_TIMEOUT_MS);
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new ShoalError(`the ${name} ${exitText(code, signal)} while starting; see above`));
    });
    createInterface({ input: child.stdout }).once('line', (line) => {
      clearTimeout(timer);
      try {
        resolve(JSON.parse(line) as Started);
      } catch {
        reject(new ShoalError(`the ${name} said something unexpected: ${line}`));
      }
    });
  });
  started.catch(() => {});
  return { child, started };
}

const exitText = (code: number | null, signal: NodeJS.Signals | null): string => (signal ? `was killed by ${signal}` : `exited with code ${code}`);
const portOf = (url: string): string => new URL(url).port;

/** A child of `shoal start`, with how to start it again on the port it had. */
interface Supervised {
  name: string;
  args: (url: string) => string[];
  child: ChildProcess;
  url: string;
  restarts: number[];
}

/**
 * How a child that exits comes back: after RESTART_BASE_MS, doubling up to RESTART_MAX_MS, and at
 * most MAX_RESTARTS times in RESTART_WINDOW_MS; more, and the server cannot go on. (A child that
 * exits over and over would otherwise spin, and the admin would see a server that looks up.)
 * SHOAL_RESTART_BASE_MS shortens the wait (the tests).
 */
const RESTART_BASE_MS = Number(process.env.SHOAL_RESTART_BASE_MS ?? 1_000);
const RESTART_MAX_MS = 30 * RESTART_BASE_MS;
const MAX_RESTARTS = 5;
const RESTART_WINDOW_MS = 10 * 60_000;

export async function startServer(o: StartOptions): Promise<void> {
  mkdirSync(o.data, { recursive: true });
  const store = o.store ?? join(o.data, 'store');
  mkdirSync(store, { recursive: true });
  const secretFile = join(o.data, LAB_SECRET_FILE);
  readOrCreateSecret(secretFile);
  readOrCreateSecret(join(o.data, ADMIN_TOKEN_FILE));
  const host = o.advertise ?? lanAddress();
  const trackerUrl = `http://${host}:${o.trackerPort ?? 8082}`;
  const kids: Supervised[] = [];
  let stopping = false;
  const stopAll = (): void => {
    stopping = true;
    for (const k of kids) if (k.child.exitCode === null && k.child.signalCode === null) k.child.kill('SIGTERM');
  };
  process.once('SIGINT', stopAll);
  process.once('SIGTERM', stopAll);
  const start = async (name: string, args: (url: string) => string[]): Promise<Started> => {
    const { child, started } = launch(name, args(''));
    kids.push({ name, args, child, url: '', restarts: [] });
    const s = await started;
    kids[kids.length - 1]!.url = s.url;
    return s;
  };
  let started: Started;
  let portal: string;
  let seeder: string;
  try {
    started = await start('portal', (url) => [
      '--data',
      o.data,
      '--port',
      url ? portOf(url) : String(o.port),
      '--tracker',
      trackerUrl,
      ...(o.database ? ['--database', o.database] : []),
      ...(o.pxe ? ['--pxe-interface', o.pxe, '--public-url', `http://${host}:${o.port}`, ...(o.dhcpRange ? ['--dhcp-range', o.dhcpRange] : [])] : []),
      ...(o.bootDir ? ['--boot-dir', o.bootDir] : []),
      ...(o.wake === false ? ['--no-wake'] : []),
      ...(o.enrolment ? ['--enrolment', o.enrolment] : []),
      ...(o.tls === false ? ['--no-tls'] : []),
      ...(o.tlsCert ? ['--tls-cert', o.tlsCert] : []),
      ...(o.tlsKey ? ['--tls-key', o.tlsKey] : []),
    ]);
    portal = started.url;
    await start('tracker', (url) => ['--portal', portal, '--secret-file', secretFile, '--port', url ? portOf(url) : String(o.trackerPort ?? 8082)]);
    seeder = (
      await start('seeder', (url) => [
        '--store',
        store,
        '--secret-file',
        secretFile,
        '--portal',
        portal,
        '--tracker',
        trackerUrl,
        '--advertise',
        host,
        '--http-port',
        url ? portOf(url) : String(o.seederHttpPort ?? 8081),
        '--bt-port',
        String(o.seederBtPort ?? 6881),
        ...(o.uploadLimit !== undefined ? ['--upload-limit', String(o.uploadLimit)] : []),
        ...(o.multicastInterface ? ['--multicast-interface', o.multicastInterface] : []),
        ...(o.importRoot ? ['--import-root', o.importRoot] : []),
      ])
    ).url;
  } catch (err) {
    stopAll();
    throw err;
  }
  const portalUrl = portal.replace('127.0.0.1', host);
  const urls = { portal: portalUrl, tracker: kids[1]!.url, seeder };
  if (o.onReady) o.onReady(urls);
  else {
    console.log(`shoal server up:\n  portal   ${portalUrl}\n  tracker  ${trackerUrl}\n  seeder   ${seeder.replace('127.0.0.1', host)} (store ${store})`);
    const tls = started.tls;
    const adminUrl = tls ? tls.url.replace('127.0.0.1', host) : portalUrl;
    console.log(`  web UI   ${adminUrl}/  (API: ${adminUrl}/api/openapi.json)${tls ? '; PCs use plain HTTP on the same port' : ''}`);
    if (tls)
      console.log(
        `  TLS      ${tls.made ? 'a certificate made for this machine' : 'certificate'} ${tls.certFile}, SHA-256 ${tls.fingerprint}${tls.made ? '\n           (check it on the first visit; scripts: export NODE_EXTRA_CA_CERTS=' + tls.certFile + ')' : ''}`,
      );
    else console.log('  TLS      off (--no-tls): logins and tokens cross the network in clear');
    if (started.firstAdmin?.password)
      console.log(`  first admin: user ${started.firstAdmin.name}, password ${started.firstAdmin.password} (shown once: change it under Users)`);
    else if (started.firstAdmin) console.log(`  first admin: user ${started.firstAdmin.name}, password from SHOAL_ADMIN_PASSWORD`);
    console.log(
      o.pxe
        ? `  PXE      on ${o.pxe}: ${o.dhcpRange ? `DHCP ${o.dhcpRange}` : 'proxy DHCP'}, TFTP; iPXE chains ${portalUrl}/boot/ipxe`
        : `  iPXE     chain ${portalUrl}/boot/ipxe?mac=\${net0/mac}  (or shoal start --pxe IFACE)`,
    );
    console.log(`  scripts  export SHOAL_TOKEN=$(cat ${join(o.data, ADMIN_TOKEN_FILE)})`);
    console.log('Ctrl-C stops all three.');
  }
  await supervise(kids, () => stopping, stopAll);
}

/**
 * Runs until a signal stops everything (resolves once every child is gone) or a child cannot be
 * brought back (rejects, naming it, with the others stopped). A child that exits is named with
 * its code or signal and started again, on the port it had, after a growing wait.
 */
function supervise(kids: Supervised[], stopping: () => boolean, stopAll: () => void): Promise<void> {
  return new Promise((resolve, reject) => {
    const allGone = (): boolean => kids.every((k) => k.child.exitCode !== null || k.child.signalCode !== null);
    let failure: Error | undefined;
    const settle = (): void => (failure ? reject(failure) : resolve());
    const giveUp = (err: Error): void => {
      failure = err;
      stopAll();
      if (allGone()) settle();
    };
    const watch = (k: Supervised): void => {
      k.child.once('exit', (code, signal) => {
        if (stopping()) {
          if (allGone()) settle();
          return;
        }
        void bringBack(k, exitText(code, signal));
      });
    };
    const bringBack = async (k: Supervised, why: string): Promise<void> => {
      const now = Date.now();
      k.restarts = k.restarts.filter((t) => now - t < RESTART_WINDOW_MS);
      if (k.restarts.length >= MAX_RESTARTS) {
        giveUp(
          new ShoalError(
            `the ${k.name} ${why}, after ${MAX_RESTARTS} restarts in ${RESTART_WINDOW_MS / 60_000} minutes: the server cannot go on; the others were stopped`,
          ),
        );
        return;
      }
      const wait = Math.min(RESTART_MAX_MS, RESTART_BASE_MS * 2 ** k.restarts.length);
      k.restarts.push(now);
      console.error(
        `shoal: the ${k.name} ${why}; starting it again in ${(wait / 1000).toFixed(1)} s (restart ${k.restarts.length} of at most ${MAX_RESTARTS} in ${RESTART_WINDOW_MS / 60_000} minutes)`,
      );
      await new Promise((r) => setTimeout(r, wait));
      if (stopping()) return;
      const { child, started } = launch(k.name, k.args(k.url));
      k.child = child;
      try {
        await started;
        console.error(`shoal: the ${k.name} is back at ${k.url}`);
        watch(k);
      } catch (err) {
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
        if (!stopping()) void bringBack(k, `could not start again (${(err as Error).message})`);
      }
    };
    for (const k of kids) {
      if (k.child.exitCode !== null || k.child.signalCode !== null) void bringBack(k, exitText(k.child.exitCode, k.child.signalCode));
      else watch(k);
    }
  });
}
