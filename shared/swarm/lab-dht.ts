/**
 * The lab's own DHT (bittorrent-dht): peer discovery for when every tracker is down. It is made
 * of the lab's storage nodes and PCs only: each node is bootstrapped from the storage nodes the
 * portal names, never from the public routers, and a swarm is looked up not under its infohash
 * but under a name derived from the lab secret (labDhtName), which the portal hands a PC with its
 * task and a storage node derives itself: a stranger on the network who answers DHT queries
 * learns neither which image is being deployed nor how to find its swarm in the open.
 */
import { createHmac } from 'node:crypto';
import DHT from 'bittorrent-dht';

export interface LabDhtPeer {
  host: string;
  port: number;
}

export interface LabDht {
  /** Where this node answers DHT queries. */
  address(): { host: string; port: number };
  /** Says this node's BitTorrent port holds the swarm named `name`. */
  announce(name: string, port: number): Promise<void>;
  /** Every peer the DHT knows under `name`, each once, as they come; resolves when the lookup ends. */
  lookup(name: string, onPeer: (peer: LabDhtPeer) => void): Promise<number>;
  destroy(): Promise<void>;
}

/** The name a swarm goes by in the lab's DHT: 20 bytes of an HMAC of its infohash under the lab secret. */
export const labDhtName = (labSecret: Buffer | string, infoHash: string): string =>
  createHmac('sha256', labSecret).update(`shoal-lab-dht/${infoHash.toLowerCase()}`).digest('hex').slice(0, 40);

/** "host:port" of a storage node's DHT, as the portal lists them. */
export const parseDhtNode = (s: string): LabDhtPeer | undefined => {
  const m = /^(.+):(\d{1,5})$/.exec(s);
  const port = Number(m?.[2]);
  return m && port > 0 && port < 65_536 ? { host: m[1]!.replace(/^\[|\]$/g, ''), port } : undefined;
};

/**
 * `advertise`: the address other nodes reach this one's BitTorrent port at; its own announces are
 * then kept in its own table too, which is what lets the first storage node, alone, be found.
 */
export async function startLabDht(opts: { bootstrap: string[]; host?: string; port?: number; advertise?: string }): Promise<LabDht> {
  const bootstrap = opts.bootstrap.filter((b) => parseDhtNode(b));
  // An empty list must mean none: bittorrent-dht's default is the public routers.
  const dht = new DHT({ bootstrap: bootstrap.length ? bootstrap : false, host: opts.advertise ?? false });
  await new Promise<void>((resolve, reject) => {
    dht.once('error', reject);
    dht.listen(opts.port ?? 0, opts.host ?? '0.0.0.0', () => {
      dht.off('error', reject);
      resolve();
    });
  });
  // A malformed packet from a stranger is its problem, not this process's.
  dht.on('error', () => {});
  dht.on('warning', () => {});
  return {
    address() {
      const a = dht.address();
      return { host: a.address, port: a.port };
    },
    announce: (name, port) =>
      new Promise((resolve, reject) => {
        dht.announce(name, port, (err?: Error | null) => {
          // Alone in the DHT, a node with an advertised address still holds its own announce.
          if (err && !(opts.advertise && /no nodes to query/i.test(err.message))) reject(err);
          else resolve();
        });
      }),
    lookup(name, onPeer) {
      const seen = new Set<string>();
      const want = name.toLowerCase();
      const listener = (peer: LabDhtPeer, infoHash: Buffer): void => {
        if (infoHash.toString('hex') !== want) return;
        const key = `${peer.host}:${peer.port}`;
        if (seen.has(key)) return;
        seen.add(key);
        onPeer(peer);
      };
      dht.on('peer', listener);
      return new Promise((resolve, reject) => {
        dht.lookup(name, (err?: Error | null, found?: number) => {
          dht.off('peer', listener);
          if (err) reject(err);
          else resolve(found ?? 0);
        });
      });
    },
    destroy: () => new Promise((resolve) => dht.destroy(() => resolve())),
  };
}
