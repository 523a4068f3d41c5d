/**
 * Shoal's private tracker: bittorrent-tracker's HTTP announces (a key cannot ride on UDP ones),
 * admitting only published images and peers whose announce URL carries a swarm key
 * (`/<key>/announce`, the passkey form private trackers use: standard clients append their own
 * `key=` query parameter, so ours lives in the path). Peers are handed out subnet first, finished
 * first; PCs are told to re-announce often while a swarm has unfinished PCs. What it admitted, the
 * seeders ask before they serve a peer (admitted.ts).
 */
import { createServer, type IncomingMessage, type Server as HttpServer } from 'node:http';
import Server, { type AnnounceParams, type TrackerSwarm } from 'bittorrent-tracker/server';
import { checkSwarmKey } from '../shared/keys/swarm-key.js';
import { NODE_KEY_SCOPE } from '../shared/keys/lab-secret.js';
import { AdmittedPeers } from './admitted.js';
import { logger } from '../shared/log.js';
import { listen } from '../shared/http/server.js';
import { orderPeers } from './peer-order.js';
import type { PublishedImages } from './published.js';
import { TrackerMetrics, type SwarmStats } from './metrics.js';

const log = logger('tracker');

export interface TrackerOptions {
  secret: string;
  published: PublishedImages;
  port?: number;
  host?: string;
  /** Re-announce interval while a swarm has unfinished peers. */
  busyIntervalMs?: number;
  /** ...and while it has none. */
  idleIntervalMs?: number;
}

export interface Tracker {
  port: number;
  url: string;
  /** The announce URL for a key. */
  announceUrl(key: string): string;
  /** Until when an address may be served an image (ms), or undefined. */
  admittedUntil(infoHash: string, ip: string): number | undefined;
  swarms(): SwarmStats[];
  close: () => Promise<void>;
}

const BUSY_INTERVAL_MS = 10_000;
const IDLE_INTERVAL_MS = 5 * 60_000;
const KEY_PATH = /^\/([A-Za-z0-9._-]{1,200})\/announce$/;
const ADMITTED_PATH = /^\/admitted\/([0-9a-f]{40})\/([0-9a-fA-F.:]{2,45})$/;
/** Room for a lab's PCs and seeders in one swarm (bittorrent-tracker's default is 1000). */
const PEERS_PER_SWARM = 5_000;

type KeyedRequest = IncomingMessage & { shoalKey?: string };
/** An announce, with the key's holder and expiry once the filter has checked it. */
type KeyedAnnounce = AnnounceParams & { httpReq?: KeyedRequest; shoalHolder: string; shoalKeyExpiresAt: number };

export async function startTracker(opts: TrackerOptions): Promise<Tracker> {
  const busyInterval = Math.ceil((opts.busyIntervalMs ?? BUSY_INTERVAL_MS) / 1000);
  const idleInterval = Math.ceil((opts.idleIntervalMs ?? IDLE_INTERVAL_MS) / 1000);
  const completed = new Map<string, number>();
  const admitted = new AdmittedPeers();
  const refused = new Map<string, number>();
  const refuse = (why: string): Error => {
    // Counted by kind, without what varies (infohash, date): anyone can announce random infohashes.
    const kind = why
      .replace(/[0-9a-f]{40}/g, 'X')
      .replace(/ at \S+$/, '')
      .trim();
    refused.set(kind, (refused.get(kind) ?? 0) + 1);
    return new Error(why);
  };

  const filter = (infoHash: string, params: KeyedAnnounce, cb: (err: Error | null) => void): void => {
    void (async () => {
      if (!(await opts.published.has(infoHash))) return cb(refuse(`unknown image: ${infoHash} is not published here`));
      const check = checkSwarmKey(opts.secret, infoHash, params.httpReq?.shoalKey);
      if (!check.ok) return cb(refuse(check.reason));
      params.shoalHolder = check.holder;
      params.shoalKeyExpiresAt = check.expiresAt;
      cb(null);
    })().catch((err: Error) => cb(err));
  };

  class ShoalTrackerServer extends Server {
    // Made at once, not on the next tick as bittorrent-tracker does: two hundred PCs announcing
    // together would otherwise each make the swarm anew, and all but the last lose their peers.
    override createSwarm(infoHash: string, cb: (err: Error | null, swarm: TrackerSwarm) => void): void {
      const swarm = (this.torrents[infoHash] ??= lanAware(new Server.Swarm(infoHash, this)));
      process.nextTick(() => cb(null, swarm));
    }
  }
  const lanAware = (swarm: TrackerSwarm): TrackerSwarm => {
    const announce = swarm.announce.bind(swarm);
    swarm.announce = (params, cb) => {
      const id = params.addr;
      // The filter ran first and set these (bittorrent-tracker passes the same object on).
      const keyed = params as KeyedAnnounce;
      const before = swarm.peers.peek(id);
      const existed = !!before;
      const wasComplete = before?.complete ?? false;
      announce(params, (err, response) => {
        if (err || !response) return cb(err, response);
        if (params.event === 'stopped') admitted.stopped(swarm.infoHash, keyed.shoalHolder, id);
        else {
          // A key's oldest entries make room for its newest; nobody else's are touched.
          for (const old of admitted.note(swarm.infoHash, keyed.shoalHolder, id, params.ip, keyed.shoalKeyExpiresAt)) {
            const peer = swarm.peers.peek(old);
            if (peer) swarm._onAnnounceStopped({ type: peer.type, event: 'stopped', numwant: 0, peer_id: peer.peerId }, peer, old);
          }
        }
        // Finished downloading here, not a seeder that started complete.
        const finished = !wasComplete && (params.event === 'completed' || (existed && !!swarm.peers.peek(id)?.complete));
        if (finished) completed.set(swarm.infoHash, (completed.get(swarm.infoHash) ?? 0) + 1);
        const all = swarm.peers.keys.map((k) => swarm.peers.peek(k)).filter((p): p is NonNullable<typeof p> => !!p && p.type !== 'ws');
        response.peers = params.event === 'stopped' ? [] : orderPeers(all, { ip: params.ip, peerId: params.peer_id }, params.numwant);
        response.interval = swarm.incomplete > 0 ? busyInterval : idleInterval;
        cb(null, response);
      });
    };
    return swarm;
  };

  const bt = new ShoalTrackerServer({
    http: false,
    udp: false,
    ws: false,
    stats: false,
    filter,
    interval: idleInterval * 1000,
    peersCacheLength: PEERS_PER_SWARM,
  });
  bt.on('warning', (err: Error) => log.debug({ err: err.message }, 'announce refused'));
  const swarms = (): SwarmStats[] =>
    Object.values(bt.torrents).map((s) => ({ infoHash: s.infoHash, seeders: s.complete, leechers: s.incomplete, completed: completed.get(s.infoHash) ?? 0 }));
  const metrics = new TrackerMetrics(swarms, () => refused);

  const http: HttpServer = createServer((req: KeyedRequest, res) => {
    const url = new URL(req.url ?? '/', 'http://tracker');
    const keyed = KEY_PATH.exec(url.pathname);
    if (keyed || url.pathname === '/announce') {
      req.shoalKey = keyed?.[1];
      // bittorrent-tracker parses the raw query itself (info_hash is binary, percent-encoded).
      const raw = req.url ?? '';
      req.url = `/announce${raw.includes('?') ? raw.slice(raw.indexOf('?')) : ''}`;
      return bt.onHttpRequest(req, res);
    }
    const asked = ADMITTED_PATH.exec(url.pathname);
    if (asked) {
      // Storage nodes only: the list would tell anyone which PCs hold which image.
      const auth = req.headers.authorization ?? '';
      const node = checkSwarmKey(opts.secret, NODE_KEY_SCOPE, auth.startsWith('Bearer ') ? auth.slice(7).trim() : undefined);
      res.setHeader('content-type', 'application/json');
      if (!node.ok) {
        res.statusCode = 401;
        return res.end(JSON.stringify({ error: `a storage node's key is needed: ${node.reason}` }));
      }
      const until = admitted.until(asked[1]!, asked[2]!);
      res.statusCode = until ? 200 : 404;
      return res.end(JSON.stringify(until ? { untilMs: until } : { error: `${asked[2]} has not announced ${asked[1]} here with a key` }));
    }
    if (url.pathname === '/swarms') {
      res.setHeader('content-type', 'application/json');
      return res.end(JSON.stringify({ swarms: swarms() }));
    }
    if (url.pathname === '/metrics') {
      void metrics.text().then(
        (body) => {
          res.setHeader('content-type', metrics.contentType);
          res.end(body);
        },
        (err: Error) => {
          log.error({ err: err.message }, 'metrics failed');
          res.statusCode = 500;
          res.end('metrics failed\n');
        },
      );
      return;
    }
    if (url.pathname === '/healthz') return res.end('ok\n');
    res.statusCode = 404;
    res.end('not found: announce at /<key>/announce; also /swarms, /metrics\n');
  });
  const { port, url, close } = await listen(http, opts.port, opts.host);
  log.info({ url }, 'tracker listening');
  return {
    port,
    url,
    announceUrl: (key) => `${url}/${key}/announce`,
    admittedUntil: (infoHash, ip) => admitted.until(infoHash, ip),
    swarms,
    close: async () => {
      bt.close();
      await close();
    },
  };
}
