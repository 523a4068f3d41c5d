/** The portal's settings, with every default filled in one place. */
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ShoalError } from '../shared/errors.js';
import { ADMIN_TOKEN_FILE, LAB_SECRET_FILE, readOrCreateSecret } from '../shared/keys/lab-secret.js';

export interface PxeOptions {
  /** The interface PCs' broadcasts arrive on. */
  interface: string;
  /** Full DHCP for an isolated lab: "first,last" addresses handed out. Absent: proxy DHCP. */
  dhcpRange?: string;
}

/** A portal URL that can go into an iPXE script or a kernel command line as it is. */
export const isBootUrl = (u: string): boolean => /^https?:\/\/[A-Za-z0-9.:[\]-]+(\/[A-Za-z0-9._~/-]*)?$/.test(u);

/** Wake-on-LAN's port: discard, what most tools and NIC firmware listen for (hosts/wake.ts). */
export const WAKE_PORT = 9;

export interface PortalConfig {
  dataDir: string;
  /** A SQLite file path, or a postgres:// URL. */
  database: string;
  host: string;
  port: number;
  /** Tracker base URLs (http://host:port) handed to PCs; each gets the PC's key in its path. */
  trackers: string[];
  secret: string;
  adminToken: string;
  /** How long a task's swarm keys stay valid. */
  keyLifetimeMs: number;
  /** A storage node silent this long no longer counts as holding its images. */
  nodeTimeoutMs: number;
  /** The URL PCs reach the portal at, for iPXE scripts (default: the Host the request came to). */
  publicUrl?: string;
  /** The built web UI (default: dist/portal/ui beside this file). */
  uiDir?: string;
  /** The boot image and first stages (default: dist/boot, where npm run build:boot puts them). */
  bootDir: string;
  /** Network boot: run dnsmasq (proxy DHCP unless a range is given) and TFTP. */
  pxe?: PxeOptions;
  /** The UDP port Wake-on-LAN packets go to (9, discard, unless a lab's NICs want 7). */
  wakePort: number;
  /** Whether the portal sends Wake-on-LAN packets at all (off: a test bench, a network that forbids them). */
  wake: boolean;
  /**
   * A MAC the portal has not seen: `approve` (the default, FOG's pending hosts) keeps it pending
   * until an admin approves it, unless it brings its group's registration secret; `open` takes it.
   */
  enrolment: 'approve' | 'open';
  /**
   * HTTPS for admins on the same port as the PCs' plain HTTP: with the certificate given here, or
   * one made on first start in DATA/tls/; false: none (admins over plain HTTP, as before).
   */
  tls: boolean;
  tlsCert?: string;
  tlsKey?: string;
}

export const DEFAULT_PORTAL_PORT = 8080;

export function portalConfig(given: Partial<PortalConfig> & { dataDir: string }): PortalConfig {
  const d = given.dataDir;
  if (!given.tlsCert !== !given.tlsKey) throw new ShoalError('--tls-cert and --tls-key go together: the certificate and its key');
  if (given.tls === false && given.tlsCert) throw new ShoalError('--no-tls with --tls-cert: give one or the other');
  if (given.publicUrl && !isBootUrl(given.publicUrl))
    throw new ShoalError(
      `--public-url ${given.publicUrl}: give http(s)://host[:port][/path], letters, digits and . _ ~ - / only (it goes into the PCs' boot scripts)`,
    );
  return {
    dataDir: d,
    database: given.database ?? join(d, 'shoal.sqlite'),
    host: given.host ?? '0.0.0.0',
    port: given.port ?? DEFAULT_PORTAL_PORT,
    trackers: given.trackers ?? [],
    secret: given.secret ?? readOrCreateSecret(join(d, LAB_SECRET_FILE)),
    adminToken: given.adminToken ?? readOrCreateSecret(join(d, ADMIN_TOKEN_FILE)),
    keyLifetimeMs: given.keyLifetimeMs ?? 24 * 3_600_000,
    nodeTimeoutMs: given.nodeTimeoutMs ?? 60_000,
    wakePort: given.wakePort ?? WAKE_PORT,
    wake: given.wake ?? true,
    enrolment: given.enrolment ?? 'approve',
    tls: given.tls ?? true,
    ...(given.tlsCert && { tlsCert: given.tlsCert }),
    ...(given.tlsKey && { tlsKey: given.tlsKey }),
    bootDir: given.bootDir ?? fileURLToPath(new URL('../boot', import.meta.url)),
    ...(given.publicUrl && { publicUrl: given.publicUrl }),
    ...(given.uiDir && { uiDir: given.uiDir }),
    ...(given.pxe && { pxe: given.pxe }),
  };
}
