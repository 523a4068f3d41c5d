#!/usr/bin/env node
/** A storage node: `node dist/seeder/main.js --store DIR --secret-file FILE --portal URL --tracker URL`. */
import { Command } from 'commander';
import { readSecret } from '../shared/keys/lab-secret.js';
import { runProcess } from '../shared/process-main.js';
import { DEFAULT_SEEDER_BT_PORT, DEFAULT_SEEDER_HTTP_PORT, startStorageNode } from './node.js';

const o = new Command('shoal-seeder')
  .requiredOption('--store <dir>', 'image store directory')
  .requiredOption('--secret-file <path>', 'the lab secret')
  .option('--portal <url>', 'the portal to report to')
  .option('--tracker <url>', 'tracker base URL to announce to (repeat)', (v: string, p: string[] = []) => [...p, v])
  .option('--name <name>', "this node's name", 'server')
  .option('--advertise <host>', 'the address PCs reach this node at (default: first LAN IPv4)')
  .option('--http-port <n>', 'HTTP port (web seed, unicast)', Number, DEFAULT_SEEDER_HTTP_PORT)
  .option('--bt-port <n>', 'BitTorrent port', Number, DEFAULT_SEEDER_BT_PORT)
  .option('--upload-limit <bytes-per-sec>', 'BitTorrent upload limit (-1: none)', Number, -1)
  .option('--host <addr>', 'address to listen on', '0.0.0.0')
  .option('--replicate', 'fetch every published image this node lacks, through its swarm')
  .option('--multicast-interface <name>', "network interface for multicast sessions (default: udpcast's choice)")
  .option('--import-root <dir>', 'the folder import jobs may read FOG and Clonezilla image folders from (default: no imports)')
  .option('--shoal-cli <path>', 'the shoal CLI entry import jobs run (default: the built dist/client/cli.js)')
  .parse()
  .opts<{
    store: string;
    secretFile: string;
    portal?: string;
    tracker?: string[];
    name: string;
    advertise?: string;
    httpPort: number;
    btPort: number;
    uploadLimit: number;
    host: string;
    replicate?: boolean;
    multicastInterface?: string;
    importRoot?: string;
    shoalCli?: string;
  }>();

runProcess('seeder', () =>
  startStorageNode({
    store: o.store,
    secret: readSecret(o.secretFile),
    portalUrl: o.portal,
    trackers: o.tracker,
    name: o.name,
    advertiseHost: o.advertise,
    httpPort: o.httpPort,
    btPort: o.btPort,
    uploadLimitBytesPerSec: o.uploadLimit,
    host: o.host,
    replicate: o.replicate,
    multicastInterface: o.multicastInterface,
    importRoot: o.importRoot,
    shoalCli: o.shoalCli,
  }).then((n) => ({ close: n.stop, url: n.http.url })),
);
