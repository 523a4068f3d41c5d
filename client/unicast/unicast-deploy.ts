/**
 * Deploy over unicast: pieces over HTTP Range requests from the storage nodes' web seed URLs, a
 * few in flight, each checked against the torrent's SHA-1 and handed to the same PieceWriter the
 * swarm's DiskPieceStore uses. What a lone PC, or a network where BitTorrent finds nobody, gets.
 * A piece that fails (bad SHA-1, HTTP error, a node that stopped answering) is fetched again, from
 * the next node when there are several, at most `maxTries` times; then the deploy fails naming the
 * piece and the nodes.
 */
import { createHash } from 'node:crypto';
import { ShoalError, errorMessage } from '../../shared/errors.js';
import type { Manifest } from '../../shared/image/manifest.js';
import { pieceRanges, torrentLayout, webSeedFileUrl } from '../../shared/image/piece-ranges.js';
import { withoutKey } from '../../shared/keys/swarm-key.js';
import { logger } from '../../shared/log.js';
import { finishTargets } from '../deploy/target-disks.js';
import { prepareDeployTargets, type DeployTargets } from '../deploy/deploy-targets.js';
import type { DeployTransport } from '../deploy/transport.js';
import { PieceWriter } from '../deploy/piece-writer.js';
import { ByteThrottle } from '../deploy/byte-throttle.js';
import { RateMeter } from '../deploy/rate-meter.js';
import { fetchPiece } from './http-piece-fetch.js';
import { silentProgress, type Progress } from '../console/progress.js';

const log = logger('unicast');

export const DEFAULT_IN_FLIGHT = 4;
export const DEFAULT_MAX_TRIES = 3;
const RETRY_DELAY_MS = 500;
const DEFAULT_TIMEOUT_MS = 6 * 60 * 60_000;

export interface UnicastDeployRequest {
  manifest: Manifest;
  torrent: Buffer;
  disks: string[];
  /** The image's web seed URL on each storage node (`${httpUrl}/images/NAME/`), first choice first. */
  sources: string[];
  /** bytes/s (-1 or absent: none). */
  downloadLimitBytesPerSec?: number;
  inFlight?: number;
  maxTries?: number;
  timeoutMs?: number;
  resume?: boolean;
  progress?: (label: string, totalBytes: number) => Progress;
  /** Targets already prepared (auto: the swarm's), to go on from what is on disk. */
  targets?: DeployTargets;
}

/**
 * A pause between tries that an abort ends with the deploy's reason. It takes its listener off the
 * deploy's one signal when it ends: each pause left one behind, and Node warned past ten.
 */
export const pauseBetweenTries = (ms: number, signal: AbortSignal): Promise<void> =>
  new Promise((resolve, reject) => {
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal.reason as Error);
    };
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });

export async function startUnicastDeploy(req: UnicastDeployRequest): Promise<DeployTransport> {
  if (!req.sources.length)
    throw new ShoalError(`unicast: no storage node holds image ${req.manifest.name} v${req.manifest.version} (the portal lists none up)`);
  const inFlight = req.inFlight ?? DEFAULT_IN_FLIGHT;
  const maxTries = req.maxTries ?? DEFAULT_MAX_TRIES;
  if (!Number.isInteger(inFlight) || inFlight < 1 || !Number.isInteger(maxTries) || maxTries < 1)
    throw new ShoalError('unicast: requests in flight and tries per piece are whole numbers of at least 1');
  const layout = torrentLayout(req.torrent);
  const targets = req.targets ?? (await prepareDeployTargets(req.manifest, req.torrent, req.disks, { resume: req.resume }));
  const { pieces } = targets;
  if (layout.pieceCount !== pieces.length) throw new ShoalError(`unicast: the torrent has ${layout.pieceCount} pieces, the image ${pieces.length}`);
  const missing = pieces.flatMap((_, i) => (targets.have[i] ? [] : [i]));
  const writer = new PieceWriter(pieces);
  const throttle = new ByteThrottle(req.downloadLimitBytesPerSec ?? -1);
  const meter = new RateMeter();
  const abort = new AbortController();
  const sources = req.sources;
  const bar = (req.progress ?? silentProgress)('deploy', targets.bytesTotal);
  bar.update(targets.bytesWritten);
  let downloaded = 0;
  let corrupt = 0;
  let written = 0;
  let active = 0;
  // The node asked first; one that fails a piece is asked last from then on.
  let preferred = 0;
  log.info({ sources, missing: missing.length, held: targets.held, inFlight }, 'fetching pieces over HTTP');

  const what = (index: number): string => `piece ${index} (${pieces[index]!.place.areaId} #${pieces[index]!.ref.index})`;
  /** `into`: the request's own buffer, which the piece fills and which is reused once it is written. */
  async function fetchVerified(index: number, into: Buffer): Promise<Buffer> {
    const failures: string[] = [];
    const first = preferred;
    for (let attempt = 0; attempt < maxTries; attempt++) {
      const source = sources[(first + attempt) % sources.length]!;
      try {
        const bytes = await fetchPiece(index, {
          layout,
          base: source,
          signal: abort.signal,
          throttle,
          into,
          onBytes: (n) => {
            downloaded += n;
            meter.add(n);
          },
        });
        const sha1 = createHash('sha1').update(bytes).digest('hex');
        if (sha1 === targets.pieceSha1s[index]) return bytes;
        corrupt++;
        const files = pieceRanges(layout, index)
          .map((r) => withoutKey(webSeedFileUrl(source, layout, r.path)))
          .join(' + ');
        failures.push(`${files}: SHA-1 ${sha1}, the torrent says ${targets.pieceSha1s[index]}`);
      } catch (err) {
        if (abort.signal.aborted) throw abort.signal.reason;
        failures.push(errorMessage(err));
      }
      if (sources.length > 1 && sources[preferred] === source) preferred = (preferred + 1) % sources.length;
      log.warn(
        { piece: index, area: pieces[index]!.place.areaId, attempt: attempt + 1, maxTries, failure: failures[failures.length - 1] },
        'piece failed: fetching it again',
      );
      if (attempt + 1 < maxTries) await pauseBetweenTries(RETRY_DELAY_MS * (attempt + 1), abort.signal);
    }
    // The same failure from the same node, said once with its count.
    const counted = [...new Set(failures)].map((f) => {
      const n = failures.filter((x) => x === f).length;
      return n > 1 ? `${f} (${n} times)` : f;
    });
    throw new ShoalError(`unicast: ${what(index)} failed ${maxTries} tries: ${counted.join('; ')}`);
  }

  let next = 0;
  const worker = async (): Promise<void> => {
    active++;
    const into = Buffer.allocUnsafe(layout.pieceLength);
    try {
      // Bounded by the pieces missing: each is taken once.
      while (next < missing.length && !abort.signal.aborted) {
        const index = missing[next++]!;
        const bytes = await fetchVerified(index, into);
        if (abort.signal.aborted) return;
        // Checked once, against the torrent's SHA-1 that deploy-targets.ts matched to the manifest's.
        const covered = writer.write(index, bytes, { sha1Checked: true });
        if (targets.markWritten(index, covered)) written++;
        bar.update(targets.bytesWritten);
      }
    } finally {
      active--;
    }
  };
  const timeoutMs = req.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const timer = setTimeout(
    () =>
      abort.abort(new ShoalError(`unicast deploy timed out after ${Math.round(timeoutMs / 1000)} s with ${targets.piecesWritten} of ${pieces.length} pieces`)),
    timeoutMs,
  );
  const workers = Array.from({ length: Math.min(inFlight, Math.max(1, missing.length)) }, () =>
    worker().catch((err: unknown) => {
      // The first failure stops the others' requests.
      if (!abort.signal.aborted) abort.abort(err);
      throw err;
    }),
  );
  const done = Promise.all(workers)
    .then(() => {
      if (abort.signal.aborted) throw abort.signal.reason;
      if (targets.piecesWritten !== pieces.length)
        throw new ShoalError(`unicast: ${pieces.length - targets.piecesWritten} piece(s) not on disk after every request`);
    })
    .finally(() => {
      clearTimeout(timer);
      bar.stop();
      writer.close();
    });
  done.catch(() => {});
  let finished: Promise<void> | undefined;
  return {
    prove: (nonce, indices) => targets.prove(nonce, indices),
    done,
    finish: () => (finished ??= done.then(() => finishTargets(targets.plans))),
    stats: () => ({
      downloaded,
      uploaded: 0,
      downloadBytesPerSec: meter.perSecond(),
      uploadBytesPerSec: 0,
      peers: active > 0 ? 1 : 0,
      ...targets.diskStats(),
      webSeedsAdded: false,
      fromStorageBytes: downloaded,
      bannedPeers: 0,
      corruptPieces: corrupt,
      transport: 'unicast',
      piecesByTransport: { unicast: written },
    }),
    stop: async () => {
      if (!abort.signal.aborted) abort.abort(new ShoalError(`unicast deploy stopped with ${targets.piecesWritten} of ${pieces.length} pieces on disk`));
      await done.catch(() => {});
    },
  };
}
