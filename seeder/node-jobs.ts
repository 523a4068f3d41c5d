/**
 * The node jobs a storage node runs (shared/http/node-jobs.ts): an import of a folder on this node
 * (import-folder.ts) or a pull from another site (pull-image.ts), handed over in the portal's
 * heartbeat replies. Each reports its progress about once a second; the portal's answer says when
 * an admin cancelled it, and the job is stopped (publishing nothing). When the job has published,
 * the node reports its store (so the portal registers the version like any other), then says done
 * with the version's infohash.
 */
import { API } from '../shared/http/api.js';
import { NodeJobReplySchema, type NodeJobOffer, type NodeJobReport } from '../shared/http/node-jobs.js';
import type { PortalClient } from '../shared/http/portal-client.js';
import { ShoalError, errorMessage } from '../shared/errors.js';
import { logger } from '../shared/log.js';
import { runImport } from './import-folder.js';
import { pullImage } from './pull-image.js';

const log = logger('seeder');
const REPORT_EVERY_MS = 1_000;
/** Jobs at once on one node: each reads or fetches a whole image. */
const AT_ONCE = 2;
const FINAL_REPORT_TRIES = 5;

export interface NodeJobsConfig {
  name: string;
  store: string;
  importRoot?: string;
  /** The `shoal` CLI's entry (import-folder.ts). */
  shoalCli: string;
  portal: PortalClient;
  /** A fresh node key for each call to the portal. */
  nodeKey: () => string;
  /** Reports the store to the portal now (the published version gets registered). */
  sync: () => Promise<unknown>;
}

export class NodeJobs {
  private readonly running = new Map<number, AbortController>();

  constructor(private readonly c: NodeJobsConfig) {}

  /** The jobs running now: the heartbeat names them, so the portal can tell one lost in a restart. */
  ids(): number[] {
    return [...this.running.keys()];
  }

  /** Starts the jobs offered that are not running yet, as many as there is room for. */
  follow(offers: NodeJobOffer[]): void {
    for (const offer of offers) {
      if (this.running.has(offer.id) || this.running.size >= AT_ONCE) continue;
      const ac = new AbortController();
      this.running.set(offer.id, ac);
      void this.run(offer, ac).finally(() => this.running.delete(offer.id));
    }
  }

  stop(): void {
    for (const ac of this.running.values()) ac.abort(new ShoalError('the storage node is stopping'));
  }

  private async report(id: number, body: NodeJobReport): Promise<{ cancel: boolean; reason?: string } | undefined> {
    try {
      return await this.c.portal.post(NodeJobReplySchema, `${API}/nodes/${this.c.name}/jobs/${id}`, body, { token: this.c.nodeKey() });
    } catch (err) {
      log.warn({ job: id, err: errorMessage(err) }, "cannot report a job's progress to the portal");
      return undefined;
    }
  }

  private async run(offer: NodeJobOffer, ac: AbortController): Promise<void> {
    let done = 0;
    let total = 0;
    let cancelled = false;
    const onProgress = (d: number, t: number): void => {
      done = d;
      total = t;
    };
    let planned: string | undefined;
    const progress = async (): Promise<void> => {
      const reply = await this.report(offer.id, { state: 'running', doneBytes: done, totalBytes: total, ...(planned && { infoHash: planned }) });
      if (reply?.cancel && !ac.signal.aborted) {
        cancelled = true;
        ac.abort(new ShoalError(reply.reason ?? 'cancelled by an admin'));
      }
    };
    // A pull says what it will make before it fetches a piece; the portal may stop it there.
    const beforePieces = async (infoHash: string): Promise<void> => {
      planned = infoHash;
      await reporting;
      await progress();
      if (ac.signal.aborted) throw ac.signal.reason;
    };
    let reporting: Promise<void> | undefined;
    const timer = setInterval(() => {
      reporting ??= progress().finally(() => (reporting = undefined));
    }, REPORT_EVERY_MS).unref();
    log.info({ job: offer.id, kind: offer.job.kind, image: offer.image, version: offer.version }, 'node job started');
    let end: NodeJobReport;
    try {
      await progress();
      if (ac.signal.aborted) throw ac.signal.reason;
      const common = { store: this.c.store, image: offer.image, version: offer.version, signal: ac.signal, onProgress };
      const result =
        offer.job.kind === 'import'
          ? await runImport({ ...common, cli: this.c.shoalCli, root: this.c.importRoot, job: offer.job })
          : await pullImage({ ...common, source: offer.job.source, beforePieces });
      clearInterval(timer);
      await this.c.sync();
      end = { state: 'done', doneBytes: total || done, totalBytes: total, infoHash: result.infoHash };
      log.info({ job: offer.id, image: offer.image, version: offer.version, infoHash: result.infoHash }, 'node job done');
    } catch (err) {
      clearInterval(timer);
      if (cancelled) {
        log.info({ job: offer.id, image: offer.image, why: errorMessage(err) }, 'node job stopped by the portal: nothing published');
        return;
      }
      end = { state: 'failed', doneBytes: done, totalBytes: total, error: errorMessage(err).slice(0, 2000) };
      log.warn({ job: offer.id, image: offer.image, err: end.error }, 'node job failed: nothing published');
    }
    await reporting;
    // The end is said until the portal hears it (a portal restarting meanwhile).
    for (let i = 0; i < FINAL_REPORT_TRIES; i++) {
      if (await this.report(offer.id, end)) return;
      await new Promise((r) => setTimeout(r, 2_000));
    }
  }
}
