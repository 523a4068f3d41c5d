#!/usr/bin/env node
/** The tracker process: `node dist/tracker/main.js --portal URL --secret-file FILE [--port N]`. */
import { Command } from 'commander';
import { readSecret } from '../shared/keys/lab-secret.js';
import { runProcess } from '../shared/process-main.js';
import { publishedFromPortal } from './published.js';
import { startTracker } from './server.js';

const o = new Command('shoal-tracker')
  .requiredOption('--portal <url>', 'the portal, asked which images are published')
  .requiredOption('--secret-file <path>', 'the lab secret (checks swarm keys)')
  .option('--port <n>', 'HTTP port', Number, 8082)
  .option('--host <addr>', 'address to listen on', '0.0.0.0')
  .parse()
  .opts<{ portal: string; secretFile: string; port: number; host: string }>();

runProcess('tracker', () => startTracker({ secret: readSecret(o.secretFile), published: publishedFromPortal(o.portal), port: o.port, host: o.host }));
