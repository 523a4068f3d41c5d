/**
 * `auto`: the swarm, as ever (trackers, the seeders tried directly, web seeds when it stalls); but
 * when after a start-up window it has reached no BitTorrent peer at all, and its trackers never
 * answered or no piece has come, the network is one without a swarm (a filtered port, a tracker
 * down, a lone PC), and the PC goes on over unicast from what is on disk.
 */
import { withoutKey } from '../../shared/keys/swarm-key.js';
import { logger } from '../../shared/log.js';
import { ShoalError } from '../../shared/errors.js';
import { prepareDeployTargets } from '../deploy/deploy-targets.js';
import type { DeployStats, DeployTransport } from '../deploy/transport.js';
import { startSwarmDeploy, type SwarmContact, type SwarmDeployRequest } from '../swarm/swarm-deploy.js';
import { startUnicastDeploy } from '../unicast/unicast-deploy.js';

const log = logger('auto');

export const DEFAULT_STARTUP_WINDOW_MS = 20_000;

export interface AutoDeployRequest extends SwarmDeployRequest {
  /** The image's web seed URL on each storage node, least loaded first (the ticket's `unicast`). */
  unicast: string[];
  startupWindowMs?: number;
}

/** Whether a swarm that reached this much by the end of its start-up window should give way to unicast. */
export function swarmFoundNobody(c: SwarmContact): boolean {
  return c.peersConnected === 0 && (c.trackerAnswers === 0 || c.piecesReceived === 0);
}

export async function startAutoDeploy(req: AutoDeployRequest): Promise<DeployTransport> {
  const targets = req.targets ?? (await prepareDeployTargets(req.manifest, req.torrent, req.disks, { resume: req.resume }));
  const swarm = await startSwarmDeploy({ ...req, targets });
  let unicast: DeployTransport | undefined;
  let stopped = false;
  const windowMs = req.startupWindowMs ?? DEFAULT_STARTUP_WINDOW_MS;
  let timer: NodeJS.Timeout | undefined;
  const windowOver = new Promise<'window'>((resolve) => (timer = setTimeout(() => resolve('window'), windowMs)));
  const done = (async () => {
    const first = await Promise.race([swarm.done.then(() => 'done' as const), windowOver]);
    clearTimeout(timer);
    if (first === 'done') return;
    const contact = swarm.contact();
    if (!swarmFoundNobody(contact) || !req.unicast.length || stopped) return swarm.done;
    log.warn({ ...contact, windowSeconds: windowMs / 1000, unicast: req.unicast.map(withoutKey) }, 'the swarm reached nobody: going on over unicast');
    await swarm.stop();
    await swarm.done.catch(() => {});
    if (stopped) throw new ShoalError('deploy stopped while switching to unicast');
    unicast = await startUnicastDeploy({ ...req, sources: req.unicast, targets });
    if (stopped) await unicast.stop();
    return unicast.done;
  })().finally(() => clearTimeout(timer));
  done.catch(() => {});
  const current = (): DeployTransport => unicast ?? swarm;
  let finished: Promise<void> | undefined;
  return {
    prove: (nonce, indices) => targets.prove(nonce, indices),
    done,
    finish: () => (finished ??= done.then(() => current().finish())),
    stats: (): DeployStats => {
      const s = swarm.stats();
      if (!unicast) return s;
      const u = unicast.stats();
      return {
        ...u,
        downloaded: s.downloaded + u.downloaded,
        uploaded: s.uploaded,
        fromStorageBytes: s.fromStorageBytes + u.fromStorageBytes,
        corruptPieces: s.corruptPieces + u.corruptPieces,
        bannedPeers: s.bannedPeers,
        webSeedsAdded: s.webSeedsAdded,
        extraPieces: s.extraPieces,
        piecesByTransport: { ...s.piecesByTransport, ...u.piecesByTransport },
      };
    },
    stop: async () => {
      stopped = true;
      clearTimeout(timer);
      await swarm.stop();
      await unicast?.stop();
    },
  };
}
