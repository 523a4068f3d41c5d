#!/usr/bin/env node
/** The portal process: `node dist/portal/main.js --data DIR [--port N] [--tracker URL ...]`. */
import { Command, Option } from 'commander';
import { runProcess } from '../shared/process-main.js';
import { startPortal } from './server.js';

const o = new Command('shoal-portal')
  .requiredOption('--data <dir>', 'data directory (database, lab secret, admin token)')
  .option('--port <n>', 'HTTP port', Number, 8080)
  .option('--host <addr>', 'address to listen on', '0.0.0.0')
  .option('--database <path-or-url>', 'SQLite file (default DATA/shoal.sqlite) or postgres://user:pass@host/db', process.env.SHOAL_DATABASE)
  .option('--public-url <url>', 'the URL PCs reach the portal at, for iPXE scripts (default: the Host of each request)')
  .option('--tracker <url>', 'tracker base URL handed to PCs (repeat)', (v: string, p: string[] = []) => [...p, v])
  .option('--pxe-interface <name>', 'network-boot PCs on this interface: dnsmasq for proxy DHCP (or full, with --dhcp-range) and TFTP')
  .option('--dhcp-range <first,last>', 'with --pxe-interface: hand out these addresses (an isolated lab with no DHCP server)')
  .option('--boot-dir <dir>', 'the boot image and first stages (default: dist/boot, from npm run build:boot)')
  .option('--no-wake', 'send no Wake-on-LAN packets (tasks and the wake buttons say so)')
  .option('--tls-cert <file>', "PEM certificate for HTTPS (admins' browsers and API) on the same port; default: one made on first start in DATA/tls/")
  .option('--tls-key <file>', 'the PEM private key of --tls-cert')
  .option('--no-tls', 'no HTTPS: admins log in over plain HTTP (behind a TLS proxy on this machine, or a trusted network)')
  .addOption(
    new Option('--enrolment <how>', "a new MAC: approve (waits for an admin, unless it brings its group's registration secret) or open (taken as it comes)")
      .choices(['approve', 'open'])
      .default('approve'),
  )
  .parse()
  .opts<{
    data: string;
    port: number;
    host: string;
    database?: string;
    publicUrl?: string;
    tracker?: string[];
    pxeInterface?: string;
    dhcpRange?: string;
    bootDir?: string;
    wake: boolean;
    enrolment: 'approve' | 'open';
    tlsCert?: string;
    tlsKey?: string;
    tls: boolean;
  }>();

runProcess('portal', () =>
  startPortal({
    dataDir: o.data,
    port: o.port,
    host: o.host,
    database: o.database,
    publicUrl: o.publicUrl,
    trackers: o.tracker,
    wake: o.wake,
    enrolment: o.enrolment,
    tls: o.tls,
    tlsCert: o.tlsCert,
    tlsKey: o.tlsKey,
    ...(o.bootDir && { bootDir: o.bootDir }),
    ...(o.pxeInterface && { pxe: { interface: o.pxeInterface, ...(o.dhcpRange && { dhcpRange: o.dhcpRange }) } }),
  }),
);
