/**
 * `shoal start`: the server of a lab on one machine. Portal, tracker and seeder run as the three
 * processes they are (each its own folder, talking over HTTP and BitTorrent only), started in the
 * order each needs the other, watched: when one dies the others are stopped and this exits non-zero.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';
import { ShoalError } from '../shared/errors.js';
import { ADMIN_TOKEN_FILE, LAB_SECRET_FILE, readOrCreateSecret } from '../shared/lab-secret.js';
import { lanAddress } from '../shared/lan-address.js';

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
  /** Network boot on this interface (dnsmasq: proxy DHCP, or full DHCP over dhcpRange; TFTP). */
  pxe?: string;
  dhcpRange?: string;
  bootDir?: string;
  /** false: the portal sends no Wake-on-LAN packets. */
  wake?: boolean;
  /** Called once everything listens (tests); the default prints where. */
  onReady?: (urls: { portal: string; tracker: string; seeder: string }) => void;
}

const STARTUP_TIMEOUT_MS = 30_000;

function entry(folder: string): string {
  return fileURLToPath(new URL(`../${folder}/main.js`, import.meta.url));
}

interface Started {
  url: string;
  firstAdmin?: { name: string; password?: string };
}

/** Starts a process and resolves with what it prints once listening (its URL, and more). */
function launch(name: string, args: string[], children: ChildProcess[]): Promise<Started> {
  const child = spawn(process.execPath, [entry(name), ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
  children.push(child);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new ShoalError(`the ${name} did not start within ${STARTUP_TIMEOUT_MS / 1000} s`)), STARTUP_TIMEOUT_MS);
    child.once('exit', (code) => reject(new ShoalError(`the ${name} exited (code ${code}) while starting; see above`)));
    createInterface({ input: child.stdout! }).once('line', (line) => {
      clearTimeout(timer);
      try {
        resolve(JSON.parse(line) as Started);
      } catch {
        reject(new ShoalError(`the ${name} said something unexpected: ${line}`));
      }
    });
  });
}

export async function startServer(o: StartOptions): Promise<void> {
  mkdirSync(o.data, { recursive: true });
  const store = o.store ?? join(o.data, 'store');
  mkdirSync(store, { recursive: true });
  const secretFile = join(o.data, LAB_SECRET_FILE);
  readOrCreateSecret(secretFile);
  readOrCreateSecret(join(o.data, ADMIN_TOKEN_FILE));
  const host = o.advertise ?? lanAddress();
  const trackerUrl = `http://${host}:${o.trackerPort ?? 8082}`;
  const children: ChildProcess[] = [];
  const stopAll = () => {
    for (const c of children) if (c.exitCode === null) c.kill('SIGTERM');
  };
  process.once('SIGINT', stopAll);
  process.once('SIGTERM', stopAll);
  try {
    const started = await launch('portal', ['--data', o.data, '--port', String(o.port), '--tracker', trackerUrl, ...(o.database ? ['--database', o.database] : []),
      ...(o.pxe ? ['--pxe-interface', o.pxe, '--public-url', `http://${host}:${o.port}`, ...(o.dhcpRange ? ['--dhcp-range', o.dhcpRange] : [])] : []),
      ...(o.bootDir ? ['--boot-dir', o.bootDir] : []), ...(o.wake === false ? ['--no-wake'] : [])], children);
    const portal = started.url;
    const portalUrl = portal.replace('127.0.0.1', host);
    const tracker = (await launch('tracker', ['--portal', portal, '--secret-file', secretFile, '--port', String(o.trackerPort ?? 8082)], children)).url;
    const seeder = (await launch('seeder', [
      '--store', store, '--secret-file', secretFile, '--portal', portal, '--tracker', trackerUrl, '--advertise', host,
      '--http-port', String(o.seederHttpPort ?? 8081), '--bt-port', String(o.seederBtPort ?? 6881),
      ...(o.uploadLimit !== undefined ? ['--upload-limit', String(o.uploadLimit)] : []),
      ...(o.multicastInterface ? ['--multicast-interface', o.multicastInterface] : []),
    ], children)).url;
    const urls = { portal: portalUrl, tracker, seeder };
    if (o.onReady) o.onReady(urls);
    else {
      console.log(`shoal server up:\n  portal   ${portalUrl}\n  tracker  ${trackerUrl}\n  seeder   ${seeder.replace('127.0.0.1', host)} (store ${store})`);
      console.log(`  web UI   ${portalUrl}/  (API: ${portalUrl}/api/openapi.json)`);
      if (started.firstAdmin?.password) console.log(`  first admin: user ${started.firstAdmin.name}, password ${started.firstAdmin.password} (shown once: change it under Users)`);
      else if (started.firstAdmin) console.log(`  first admin: user ${started.firstAdmin.name}, password from SHOAL_ADMIN_PASSWORD`);
      console.log(o.pxe ? `  PXE      on ${o.pxe}: ${o.dhcpRange ? `DHCP ${o.dhcpRange}` : 'proxy DHCP'}, TFTP; iPXE chains ${portalUrl}/boot/ipxe`
        : `  iPXE     chain ${portalUrl}/boot/ipxe?mac=\${net0/mac}  (or shoal start --pxe IFACE)`);
      console.log(`  scripts  export SHOAL_TOKEN=$(cat ${join(o.data, ADMIN_TOKEN_FILE)})`);
      console.log('Ctrl-C stops all three.');
    }
  } catch (err) {
    stopAll();
    throw err;
  }
  // Runs until one of the three exits (or a signal stops them all).
  const code = await Promise.race(children.map((c) => new Promise<number | null>((r) => c.once('exit', (code) => r(code)))));
  stopAll();
  if (code !== 0) throw new ShoalError(`a server process exited with code ${code}; the others were stopped`);
}
