/**
 * A deploy driven by a portal ticket: in a group that starts together, check the disks and wait
 * (reporting `waiting`) until the portal says go; fetch the pieces (swarm, unicast, or auto: the
 * swarm, unicast when it finds nobody), write the disk, report progress every second, then keep
 * seeding until the portal says the whole group holds the image or the linger time runs out, and
 * leave. A PC that ends on unicast has nothing to seed and does not linger. The portal may blink
 * meanwhile: a failed report is logged, not fatal. A failure before the pieces flow (a disk too
 * small) is reported too, so the portal shows it.
 */
import type { HostState, Progress as ProgressReport, ProgressReply, SwarmTicket } from '../../shared/http/api.js';
import { ShoalError, errorMessage } from '../../shared/errors.js';
import { parseManifest, type Manifest } from '../../shared/image/manifest.js';
import { logger } from '../../shared/log.js';
import type { Progress } from '../console/progress.js';
import { startSwarmDeploy } from '../swarm/swarm-deploy.js';
import { startMulticastDeploy } from '../multicast/multicast-deploy.js';
import { startUnicastDeploy } from '../unicast/unicast-deploy.js';
import { startAutoDeploy } from './auto-deploy.js';
import type { DeployStats, DeployTransport, TransportName } from '../deploy/transport.js';
import type { Share } from '../swarm/piece-order.js';
import { prepareDeployTargets, type DeployTargets } from '../deploy/deploy-targets.js';
import { disksWithoutTable } from '../deploy/target-disks.js';
import { personalizeDisks } from '../finish/host-personalize.js';
import { ensureUefiBootEntry } from '../finish/uefi-boot-entry.js';

const log = logger('client');
const REPORT_EVERY_MS = 1_000;

export interface TicketDeployOptions {
  ticket: SwarmTicket;
  disks: string[];
  /** Sends a progress report; returns whether the group is done (and whether a waiting PC may start). */
  report?: (p: ProgressReport) => Promise<Pick<ProgressReply, 'groupDone'> & Partial<ProgressReply>>;
  /** Seconds to keep seeding after finishing, at most (0: leave at once). */
  lingerSeconds?: number;
  progress?: (label: string, totalBytes: number) => Progress;
  downloadLimitBytesPerSec?: number;
  uploadLimitBytesPerSec?: number;
  webSeedAfterStallMs?: number;
  timeoutMs?: number;
  share?: Share;
  /** How the pieces come (default swarm). */
  transport?: TransportName | 'auto';
  /** auto: how long the swarm has to reach someone before unicast takes over. */
  startupWindowMs?: number;
  /** A multicast task's session: the stream replaces the transport asked for; unicast repairs. */
  multicast?: { portbase: number; maxWaitSeconds: number };
  /** The group starts together: wait for the portal's go, at most maxWaitSeconds (plus slack). */
  startTogether?: { minReceivers: number; maxWaitSeconds: number };
  /** The PC's own name, written into the deployed systems once the disk is whole. */
  identity?: { hostname: string };
  /** On a UEFI PC (a block device, efivarfs with variables), make the firmware's boot entry for the deployed OS (`join` does). */
  uefiBootEntry?: boolean;
}

/** A PC waiting to start asks this often; the group starts within about this much of each other. */
const START_POLL_MS = 500;
/** A waiting PC starts on its own this long after the portal's own wait should have ended. */
const START_SLACK_SECONDS = 30;

/** A PC of a multicast task waits for the session this much longer than the sender waits for PCs. */
const MULTICAST_START_SLACK_SECONDS = 15;

/** A report of a PC that moves no bytes: waiting to start (with what its disk holds), or failed before a piece. */
function stillReport(
  state: ProgressReport['state'],
  t?: { piecesWritten: number; pieces: unknown[]; bytesWritten: number; bytesTotal: number },
): ProgressReport {
  return {
    state,
    piecesDone: t?.piecesWritten ?? 0,
    piecesTotal: t?.pieces.length ?? 0,
    bytesDone: t?.bytesWritten ?? 0,
    bytesTotal: t?.bytesTotal ?? 0,
    downloadBytesPerSec: 0,
    uploadBytesPerSec: 0,
    downloadedBytes: 0,
    uploadedBytes: 0,
    fromStorageBytes: 0,
    peers: 0,
  };
}

export interface TicketDeployResult {
  manifest: Manifest;
  stats: DeployStats;
  /** Why it stopped seeding. */
  left: 'group-done' | 'linger-timeout' | 'no-linger' | 'not-seeding';
  /** What was done to the disk after the pieces: its name, its boot entry. */
  after: string[];
}

/** A failure after the wipe says so: the portal then keeps the task for the PC's next boot. */
const failedReport = (state: HostState): Partial<ProgressReport> => (state === 'failed' && disksWithoutTable().length ? { tableWiped: true } : {});

function toReport(state: HostState, s: DeployStats, error?: string): ProgressReport {
  return {
    ...failedReport(state),
    state,
    piecesDone: s.piecesWritten,
    piecesTotal: s.piecesTotal,
    bytesDone: s.bytesWritten,
    bytesTotal: s.bytesTotal,
    downloadBytesPerSec: Math.round(s.downloadBytesPerSec),
    uploadBytesPerSec: Math.round(s.uploadBytesPerSec),
    downloadedBytes: s.downloaded,
    uploadedBytes: s.uploaded,
    fromStorageBytes: s.fromStorageBytes,
    peers: s.peers,
    transport: s.transport,
    piecesByTransport: s.piecesByTransport,
    ...(error ? { error: error.slice(0, 2000) } : {}),
  };
}

/** "swarm 120, unicast 30 pieces": who delivered what, for the log and the command's last line. */
export function piecesByTransportText(s: DeployStats): string {
  const parts = Object.entries(s.piecesByTransport).map(([t, n]) => `${t} ${n}`);
  return `${parts.join(', ') || 'none'} piece(s)${s.piecesHeld ? `, ${s.piecesHeld} already on disk` : ''}`;
}

function startTransport(o: TicketDeployOptions, manifest: Manifest, targets?: DeployTargets): Promise<DeployTransport> {
  const common = {
    manifest,
    torrent: Buffer.from(o.ticket.torrent, 'base64'),
    disks: o.disks,
    progress: o.progress,
    downloadLimitBytesPerSec: o.downloadLimitBytesPerSec,
    timeoutMs: o.timeoutMs,
    ...(targets && { targets }),
  };
  // A portal from before unicast lists no sources; its web seeds are the same URLs, unordered.
  const sources = o.ticket.unicast.length ? o.ticket.unicast : o.ticket.webSeeds;
  if (o.multicast) {
    return startMulticastDeploy({
      ...common,
      unicast: sources,
      portbase: o.multicast.portbase,
      startTimeoutSeconds: o.multicast.maxWaitSeconds + MULTICAST_START_SLACK_SECONDS,
    });
  }
  if (o.transport === 'unicast') return startUnicastDeploy({ ...common, sources });
  const swarm = {
    ...common,
    peers: o.ticket.peers,
    announce: o.ticket.announce,
    ...(o.ticket.dhtName && { dhtName: o.ticket.dhtName }),
    webSeeds: o.ticket.webSeeds,
    uploadLimitBytesPerSec: o.uploadLimitBytesPerSec,
    webSeedAfterStallMs: o.webSeedAfterStallMs,
    share: o.share,
  };
  if (o.transport === 'auto') return startAutoDeploy({ ...swarm, unicast: sources, startupWindowMs: o.startupWindowMs });
  return startSwarmDeploy(swarm);
}

/** Reports `waiting` until the portal says the group starts (or its wait is long over). */
async function waitForStart(
  report: NonNullable<TicketDeployOptions['report']>,
  t: DeployTargets,
  gate: { minReceivers: number; maxWaitSeconds: number },
): Promise<void> {
  const waiting = stillReport('waiting', t);
  log.info(
    { minReceivers: gate.minReceivers, maxWaitSeconds: gate.maxWaitSeconds },
    `ready: waiting for ${gate.minReceivers} PC(s) of the group to start together`,
  );
  const since = Date.now();
  const until = since + (gate.maxWaitSeconds + START_SLACK_SECONDS) * 1000;
  // Bounded by the portal's wait plus slack: a portal gone quiet does not hold the PC for ever.
  while (Date.now() < until) {
    let reply: Awaited<ReturnType<typeof report>> | undefined;
    try {
      reply = await report(waiting);
    } catch (err) {
      // The portal may blink (a restart): keep waiting, as the reports of a running deploy do.
      log.warn({ err: errorMessage(err) }, 'progress report failed while waiting to start');
    }
    if (reply && reply.start !== false) {
      log.info({ waitedMs: Date.now() - since }, 'the group starts');
      return;
    }
    if (reply?.groupDone) throw new ShoalError('the task was cancelled while this PC waited for its group to start');
    await new Promise((r) => setTimeout(r, START_POLL_MS));
  }
  log.warn({ waitedSeconds: Math.round((Date.now() - since) / 1000) }, 'no word from the portal to start: starting alone');
}

/** Once the disk is whole: the PC's own name in its systems, and the firmware's way to them. */
async function afterDisk(o: TicketDeployOptions, manifest: Manifest): Promise<string[]> {
  const said: string[] = [];
  if (o.identity) {
    const named = await personalizeDisks(o.disks, o.identity.hostname);
    if (named.length) said.push(`named ${o.identity.hostname} (${named.map((p) => `${p.system} on partition ${p.partition}`).join(', ')})`);
  }
  if (o.uefiBootEntry) {
    const e = await ensureUefiBootEntry(o.disks[0]!, manifest.name);
    if (e.kind === 'created' || e.kind === 'kept')
      said.push(`UEFI boot entry Boot${e.entry} "${e.label}" for ${e.loader} ${e.kind}, boot order ${e.order.join(',')}`);
  }
  return said;
}

export async function deployFromTicket(o: TicketDeployOptions): Promise<TicketDeployResult> {
  const manifest = parseManifest(o.ticket.manifest, `the portal's manifest of ${o.ticket.image.name} v${o.ticket.image.version}`);
  if (manifest.infoHash !== o.ticket.image.infoHash) throw new ShoalError('the portal sent a manifest of another image than its ticket names');
  let swarm: DeployTransport;
  try {
    let targets: DeployTargets | undefined;
    if (o.startTogether && !o.multicast && o.report) {
      // The disks are checked (and what they hold counted) before waiting, so a PC that cannot take
      // the image fails now rather than when its group starts.
      targets = await prepareDeployTargets(manifest, Buffer.from(o.ticket.torrent, 'base64'), o.disks);
      await waitForStart(o.report, targets, o.startTogether);
    }
    swarm = await startTransport(o, manifest, targets);
  } catch (err) {
    // A disk too small, a torrent of another image: the portal shows the PC failed and why (and a
    // group starting together stops waiting for it).
    await o
      .report?.({
        ...stillReport('failed'),
        error: errorMessage(err).slice(0, 2000),
        ...failedReport('failed'),
      })
      .catch((e: unknown) => log.warn({ err: errorMessage(e) }, 'could not report the failure'));
    throw err;
  }
  let state: HostState = 'running';
  let groupDone = false;
  // An admin cancelled this PC alone (the portal's answer says so): it stops fetching.
  let cancelled = false;
  let reporting: Promise<void> | undefined;
  const report = (error?: string): Promise<void> =>
    (reporting ??= (async () => {
      if (!o.report) return;
      try {
        let reply = await o.report(toReport(state, swarm.stats(), error));
        // The portal believes "I hold the image" once this PC proves it over pieces it picks (portal/tasks/proof.ts).
        if (reply.challenge) {
          const { nonce, pieces } = reply.challenge;
          reply = await o.report({ ...toReport(state, swarm.stats(), error), proof: { nonce, digest: swarm.prove(nonce, pieces) } });
        }
        groupDone = reply.groupDone || groupDone;
        if (reply.cancelled && state === 'running' && !cancelled) {
          cancelled = true;
          void swarm.stop();
        }
      } catch (err) {
        log.warn({ err: errorMessage(err) }, 'progress report failed');
      } finally {
        reporting = undefined;
      }
    })());
  const ticker = setInterval(() => void report(), REPORT_EVERY_MS).unref();
  try {
    await swarm.done;
  } catch (err) {
    clearInterval(ticker);
    if (cancelled) throw new ShoalError("an admin cancelled this PC's part in the task: it stopped; its disk keeps what was written");
    state = 'failed';
    await reporting;
    await report(errorMessage(err));
    await swarm.stop();
    throw err;
  }
  state = 'seeding';
  await reporting;
  await report();
  log.info(
    { transport: swarm.stats().transport, pieces: swarm.stats().piecesByTransport, held: swarm.stats().piecesHeld },
    `every piece on disk: ${piecesByTransportText(swarm.stats())}`,
  );
  // A PC that found every piece on its disk holds none of them compressed: it has nothing to pass on.
  const seeding = swarm.stats().transport === 'swarm' && (swarm.stats().piecesByTransport.swarm ?? 0) > 0;
  let left: TicketDeployResult['left'] = seeding ? 'no-linger' : 'not-seeding';
  const lingerMs = seeding ? (o.lingerSeconds ?? 0) * 1000 : 0;
  if (lingerMs > 0) {
    const until = Date.now() + lingerMs;
    // Bounded by the linger time; the ticker keeps reporting (and learning groupDone) meanwhile.
    while (!groupDone && Date.now() < until) await new Promise((r) => setTimeout(r, Math.min(250, until - Date.now())));
    left = groupDone ? 'group-done' : 'linger-timeout';
  }
  clearInterval(ticker);
  const stats = swarm.stats();
  // Stop seeding, then finish the disk (the stash's blocks may be written by that).
  try {
    await swarm.finish();
  } catch (err) {
    state = 'failed';
    await reporting;
    await report(errorMessage(err));
    throw err;
  }
  let after: string[];
  try {
    after = await afterDisk(o, manifest);
  } catch (err) {
    state = 'failed';
    await reporting;
    await report(errorMessage(err));
    throw err;
  }
  state = 'done';
  await reporting;
  await report();
  log.info({ left, uploaded: stats.uploaded, downloaded: stats.downloaded }, seeding ? 'left the swarm' : 'done');
  return { manifest, stats, left, after };
}
