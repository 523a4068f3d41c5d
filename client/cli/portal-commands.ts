/** The commands that talk to a portal: deploy through the swarm, join (PXE), torrent, start. */
import { writeFile } from 'node:fs/promises';
import { Option, type Command } from 'commander';
import { collect, nonNegative, port, positiveInt } from './values.js';
import { ShoalError } from '../../shared/errors.js';
import { PortalClient } from '../join/portal-client.js';
import { deployFromTicket, piecesByTransportText, type TicketDeployResult } from '../join/ticket-deploy.js';
import { DEFAULT_STARTUP_WINDOW_MS } from '../join/auto-deploy.js';
import type { TransportName } from '../deploy/transport.js';
import { createProgress, formatBytes } from '../console/progress.js';
import { defaultMac } from '../join/host-identity.js';
import { hostInventory } from '../join/inventory.js';
import { startServer, type StartOptions } from './start-server.js';
import { captureForTask } from '../capture/network-capture.js';
import { tracePhase } from '../../shared/swarm/swarm-trace.js';

const TASK_POLL_MS = 5_000;
const tokenHelp = 'admin token (default: $SHOAL_TOKEN; `shoal start` prints where it is)';

export type PortalTransport = TransportName | 'auto';
export const PORTAL_TRANSPORTS: PortalTransport[] = ['swarm', 'unicast', 'auto'];
export const startupWindowHelp = `auto: seconds the swarm has to reach a peer before unicast takes over (default ${DEFAULT_STARTUP_WINDOW_MS / 1000})`;

/** "… through the swarm: 1.2 GiB in, 3.4 GiB passed on" or "… over unicast: …", and who delivered what. */
function deployedText(r: TicketDeployResult): string {
  const how = r.stats.transport === 'unicast' ? 'over unicast' : 'through the swarm';
  const extra = r.stats.extraPieces ? ` (${r.stats.extraPieces} asked of the storage nodes beyond this PC's share, as its link had room)` : '';
  return `${how}: ${formatBytes(r.stats.downloaded)} in, ${formatBytes(r.stats.uploaded)} passed on to other PCs; ${piecesByTransportText(r.stats)}${extra}`;
}

export async function deployThroughPortal(o: {
  portal: string;
  image: string;
  disk: string[];
  version?: number;
  token?: string;
  linger: number;
  transport: PortalTransport;
  startupWindow?: number;
  downloadLimit?: number;
}): Promise<void> {
  const portal = new PortalClient(o.portal, o.token ?? process.env.SHOAL_TOKEN);
  const ticket = await portal.ticket(o.image, o.version);
  const r = await deployFromTicket({
    ticket,
    disks: o.disk,
    progress: createProgress,
    lingerSeconds: o.linger,
    transport: o.transport,
    downloadLimitBytesPerSec: o.downloadLimit,
    ...(o.startupWindow !== undefined && { startupWindowMs: o.startupWindow * 1000 }),
  });
  console.log(`deployed ${r.manifest.name} v${r.manifest.version} to ${o.disk.join(', ')} ${deployedText(r)}`);
}

export function addSwarmCommands(program: Command): void {
  program
    .command('join')
    .description('what a PXE-booted PC runs: register by MAC, fetch its task (deploy or capture), run it, report, linger, exit')
    .requiredOption('--portal <url>', 'the portal')
    .requiredOption('--disk <path>', 'the disk to deploy to or capture (repeat for alldisks)', collect)
    .option('--mac <mac>', "this PC's MAC address (default: its first network interface's)")
    .option('--key <key>', "the key the portal put on a network-booted PC's kernel command line (refused for any other MAC, or once its task ended)")
    .option('--wait <seconds>', 'wait this long for a task when none is pending', nonNegative, 0)
    .option('--download-limit <bytes-per-sec>', "this PC's download limit (default: none)", nonNegative)
    .option('--upload-limit <bytes-per-sec>', "this PC's upload limit (default: none)", nonNegative)
    .addOption(
      new Option('--transport <how>', 'how the pieces come: the swarm, unicast (HTTP from a storage node), or auto (the swarm; unicast when it reaches nobody)')
        .choices(PORTAL_TRANSPORTS)
        .default('auto'),
    )
    .option('--startup-window <seconds>', startupWindowHelp, nonNegative)
    .action(
      async (o: {
        portal: string;
        disk: string[];
        mac?: string;
        key?: string;
        wait: number;
        downloadLimit?: number;
        uploadLimit?: number;
        transport: PortalTransport;
        startupWindow?: number;
      }) => {
        tracePhase('pc', 'loaded');
        const mac = o.mac ?? defaultMac();
        const portal = new PortalClient(o.portal);
        await portal.register(mac, hostInventory());
        tracePhase('pc', 'registered');
        const until = Date.now() + o.wait * 1000;
        let task = await portal.task(mac, o.key);
        // Bounded by --wait.
        while (task.kind === 'none' && Date.now() < until) {
          await new Promise((r) => setTimeout(r, Math.min(TASK_POLL_MS, Math.max(0, until - Date.now()))));
          task = await portal.task(mac, o.key);
        }
        if (task.kind === 'none') {
          console.log(`no task for ${mac}: nothing to do`);
          return;
        }
        if (task.kind === 'capture') {
          const c = await captureForTask({
            task,
            disks: o.disk,
            progress: createProgress,
            report: (p) => portal.progress(task.taskId, mac, task.key, p),
            uploadLimitBytesPerSec: o.uploadLimit,
          });
          console.log(
            `task ${task.taskId}: captured ${c.manifest.name} v${c.manifest.version} to the storage node: ${formatBytes(c.sentBytes)} sent` +
              `${c.skipped ? `, ${c.skipped} piece(s) already there from the earlier try` : ''}`,
          );
          return;
        }
        tracePhase('pc', 'task');
        const { taskId, key } = task;
        if (task.transport === 'multicast')
          console.log(`task ${taskId} is a multicast deploy: waiting for the session on port base ${task.multicast?.portbase}`);
        const r = await deployFromTicket({
          ticket: task.ticket,
          disks: o.disk,
          progress: createProgress,
          lingerSeconds: task.lingerSeconds,
          share: task.share,
          report: (p) => portal.progress(taskId, mac, key, p),
          downloadLimitBytesPerSec: o.downloadLimit,
          uploadLimitBytesPerSec: o.uploadLimit,
          transport: o.transport,
          ...(o.startupWindow !== undefined && { startupWindowMs: o.startupWindow * 1000 }),
          ...(task.transport === 'multicast' && task.multicast && { multicast: task.multicast }),
          ...(task.startTogether && { startTogether: task.startTogether }),
          ...(task.identity && { identity: task.identity }),
          uefiBootEntry: true,
        });
        console.log(
          `task ${taskId}: deployed ${r.manifest.name} v${r.manifest.version} to ${o.disk.join(', ')} ${deployedText(r)}; ` +
            (r.left === 'not-seeding' ? 'nothing to seed' : `left the swarm (${r.left})`) +
            r.after.map((a) => `; ${a}`).join(''),
        );
      },
    );

  program
    .command('torrent')
    .description('write a standard .torrent of an image, with a fresh key in its announce URL, for any BitTorrent client')
    .requiredOption('--portal <url>', 'the portal')
    .requiredOption('--image <name>', 'image name')
    .requiredOption('--out <file>', 'where to write the .torrent')
    .option('--version <n>', 'image version (default: the newest)', positiveInt)
    .option('--token <token>', tokenHelp)
    .option('--no-web-seeds', "leave the seeders' HTTP web seeds out (peers and seeders over BitTorrent only)")
    .action(async (o: { portal: string; image: string; out: string; version?: number; token?: string; webSeeds: boolean }) => {
      const t = await new PortalClient(o.portal, o.token ?? process.env.SHOAL_TOKEN).torrent(o.image, { version: o.version, webSeeds: o.webSeeds });
      await writeFile(o.out, t);
      console.log(`wrote ${o.out} (${t.length} bytes); its key expires in a day`);
    });

  program
    .command('start')
    .description('run the server: portal, tracker and seeder together, on SQLite in the data directory')
    .option('--data <dir>', 'data directory (database, secrets, and the store unless --store)', '/var/lib/shoal')
    .option('--store <dir>', 'image store directory (default DATA/store)')
    .option('--port <n>', 'portal port: plain HTTP for PCs, HTTPS for admins', port, 8080)
    .option('--tracker-port <n>', 'tracker HTTP port', port, 8082)
    .option('--seeder-port <n>', 'seeder HTTP port (web seed, unicast)', port, 8081)
    .option('--bt-port <n>', 'seeder BitTorrent port', port, 6881)
    .option('--upload-limit <bytes-per-sec>', "the seeder's BitTorrent upload limit (default: none)", nonNegative)
    .option('--advertise <host>', 'the address PCs reach this server at (default: first LAN IPv4)')
    .option('--database <url>', 'a postgres:// URL for the portal (default: SQLite in the data directory)', process.env.SHOAL_DATABASE)
    .option('--multicast-interface <name>', "the network interface multicast sessions go out on (default: udpcast's choice)")
    .option('--import-root <dir>', "the folder the portal's import jobs may read FOG and Clonezilla image folders from (default: no imports)")
    .option('--pxe <interface>', "network-boot PCs on this interface: dnsmasq answers PXE (proxy DHCP beside the lab's own server) and serves TFTP")
    .option('--dhcp-range <first,last>', 'with --pxe, for an isolated lab without a DHCP server: hand out these addresses')
    .option('--boot-dir <dir>', 'the boot image (default: dist/boot, built by npm run build:boot)')
    .option('--no-wake', 'send no Wake-on-LAN packets (a test bench, or a network where they are not wanted)')
    .option('--tls-cert <file>', "PEM certificate for the admins' HTTPS (default: one made on first start in DATA/tls/)")
    .option('--tls-key <file>', 'the PEM private key of --tls-cert')
    .option('--no-tls', 'no HTTPS: admins log in over plain HTTP (only behind a TLS proxy on this machine, or on a trusted network)')
    .addOption(
      new Option('--enrolment <how>', "a new MAC that registers itself: approve (waits for an admin, unless it brings its group's registration secret) or open")
        .choices(['approve', 'open'])
        .default('approve'),
    )
    .action(
      async (
        o: Omit<StartOptions, 'seederHttpPort' | 'seederBtPort' | 'onReady'> & {
          trackerPort: number;
          seederPort: number;
          btPort: number;
          wake: boolean;
          enrolment: 'approve' | 'open';
          tls: boolean;
        },
      ) => {
        if (o.dhcpRange && !o.pxe) throw new ShoalError('--dhcp-range needs --pxe INTERFACE');
        await startServer({ ...o, seederHttpPort: o.seederPort, seederBtPort: o.btPort });
      },
    );
}

export function checkDeployTransport(o: { store?: string; portal?: string; transport?: string }): 'store' | PortalTransport {
  if (o.store && o.portal) throw new ShoalError('give --store (deploy from a local store) or --portal (deploy through the lab), not both');
  if (!o.store && !o.portal) throw new ShoalError('give --store DIR (a local store) or --portal URL (through the lab)');
  if (o.store) {
    if (o.transport && o.transport !== 'store') throw new ShoalError(`--transport ${o.transport} needs --portal`);
    return 'store';
  }
  if (o.transport === 'multicast')
    throw new ShoalError(
      '--transport multicast: a multicast deploy is a task for a group (the portal starts the session and the PCs join it with `shoal join`); here give swarm, unicast or auto',
    );
  const how = (o.transport ?? 'swarm') as PortalTransport;
  if (!PORTAL_TRANSPORTS.includes(how)) throw new ShoalError(`--transport ${o.transport}: give swarm, unicast or auto`);
  return how;
}
