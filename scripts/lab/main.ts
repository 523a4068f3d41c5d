#!/usr/bin/env node
/**
 * npm run lab -- [options] (root): the lab simulator by hand. Captures a sample disk (DATA_MIB of
 * files on ext4) and deploys it to N PCs in network namespaces over shaped links, with the real
 * Shoal processes; prints when each PC held the image, beside the bound (image / client rate).
 *   --clients N (4)  --client-mbit R (16)  --server-mbit R (160)  --data-mib N (64)
 *   --piece-length BYTES (the image's pieces; capture's default, 1 MiB, when absent)
 *   --slow I:F (client I at F × the client rate)  --lossy I:P (client I drops P % of its packets)
 *   --transport swarm|unicast|multicast (swarm)  --verbose (the processes' logs)
 *   --tcp-cc NAME (TCP congestion control in every namespace; cubic, the Linux default)
 *   --rooms K (1: the PCs split into K /24s on the one bridge, for the room-first rule; the portal
 *     deals shares round the rooms only from a second round on, once it knows where each PC is)
 *   --cpu-prof I,J:DIR (V8 CPU profiles of PCs I and J into DIR: profiling all 32 slows the lab to a crawl)
 *   --pc-node-flags="FLAGS" (Node flags for every PC, e.g. --pc-node-flags="--log-deopt --logfile=/tmp/v8-%p.log")
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { MiB } from '../bench-disk.js';
import { captureDataImage } from './data-image.js';
import { runLab } from './run-lab.js';
import { parseScriptArgs } from '../usage.js';
import { DEFAULT_TCP_CC } from './netns.js';

const { values } = parseScriptArgs(import.meta.url, {
  clients: { type: 'string', default: '4' },
  'client-mbit': { type: 'string', default: '16' },
  'server-mbit': { type: 'string', default: '160' },
  'data-mib': { type: 'string', default: '64' },
  'piece-length': { type: 'string' },
  transport: { type: 'string', default: 'swarm' },
  slow: { type: 'string' },
  lossy: { type: 'string' },
  verbose: { type: 'boolean', default: false },
  'cpu-prof': { type: 'string' },
  'pc-node-flags': { type: 'string' },
  'tcp-cc': { type: 'string', default: DEFAULT_TCP_CC },
  rooms: { type: 'string', default: '1' },
});
const pair = (s: string | undefined, what: string): [number, number] | undefined => {
  if (!s) return undefined;
  const m = /^(\d+):([\d.]+)$/.exec(s);
  if (!m) throw new Error(`--${what} wants INDEX:VALUE, e.g. 0:0.5`);
  return [Number(m[1]), Number(m[2])];
};
const slow = pair(values.slow, 'slow');
const lossy = pair(values.lossy, 'lossy');
const clientMbit = Number(values['client-mbit']);
const profiled = ((): Record<number, string[]> => {
  if (!values['cpu-prof']) return {};
  const m = /^([\d,]+):(.+)$/.exec(values['cpu-prof']);
  if (!m) throw new Error('--cpu-prof wants PCS:DIR, e.g. 0,1:/tmp/prof');
  return Object.fromEntries(m[1]!.split(',').map((i) => [Number(i), ['--cpu-prof', `--cpu-prof-dir=${m[2]}`]]));
})();

const dir = mkdtempSync(join(tmpdir(), 'shoal-lab-'));
try {
  const { store, diskBytes } = captureDataImage(
    dir,
    Number(values['data-mib']),
    'lab',
    values['piece-length'] ? ['--piece-length', values['piece-length']] : [],
  );
  const r = await runLab({
    dir,
    store,
    image: 'lab',
    diskBytes,
    transport: values.transport as 'swarm' | 'unicast' | 'multicast',
    clients: Number(values.clients),
    rooms: Number(values.rooms),
    clientMbit,
    serverMbit: Number(values['server-mbit']),
    ...(slow && { slow: { index: slow[0], factor: slow[1] } }),
    ...(lossy && { lossy: { index: lossy[0], percent: lossy[1] } }),
    clientNodeFlags: Array.from({ length: Number(values.clients) }, (_, i) => [
      ...(values['pc-node-flags']?.split(/\s+/).filter(Boolean) ?? []),
      ...(profiled[i] ?? []),
    ]),
    tcpCongestion: values['tcp-cc'],
    ...(values.verbose && { log: (who: string, line: string) => console.error(`[${who}] ${line}`) }),
  });
  const bound = r.imageBytes / ((clientMbit * 1e6) / 8);
  console.log(
    `lab: ${r.clientSeconds.length} PCs at ${clientMbit} Mbit/s, server ${values['server-mbit']} Mbit/s, TCP ${r.tcpCongestion}, image ${(r.imageBytes / MiB).toFixed(1)} MiB, bound ${bound.toFixed(1)} s`,
  );
  r.clientSeconds.forEach((s, i) =>
    console.log(`  pc${i}  ${s.toFixed(1)} s  (${(s / bound).toFixed(2)}x the bound)${slow?.[0] === i ? '  slow' : ''}${lossy?.[0] === i ? '  lossy' : ''}`),
  );
  console.log(
    `  last ${r.lastSeconds.toFixed(1)} s (${(r.lastSeconds / bound).toFixed(2)}x); seeder sent ${(r.seederSentBytes / r.imageBytes).toFixed(2)}x the image; CPU ${(r.cpuBusy * 100).toFixed(0)} % busy${r.cpuBusy > 0.9 ? ' (CPU-bound: the links were not the limit)' : ''}`,
  );
} finally {
  rmSync(dir, { recursive: true, force: true });
}
