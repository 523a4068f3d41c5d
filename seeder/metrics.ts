/** The seeder's /metrics in Prometheus text format: bytes uploaded per image and transport, peers. */
import { Counter, Gauge, Registry } from 'prom-client';
import type { Torrent } from 'webtorrent';
import type { Seeder } from './seed-store.js';

export class SeederMetrics {
  private readonly registry = new Registry();
  readonly contentType = this.registry.contentType;
  private readonly http: Counter<'image' | 'version'>;
  private readonly proofs: Counter<'image' | 'version'>;

  constructor(seeder: () => Seeder | undefined) {
    const images = () => seeder()?.images() ?? [];
    // Read from the seeded torrents when scraped, one series per image version.
    const perImage = (name: string, help: string, read: (t: Torrent) => number): void =>
      void new Gauge({
        name,
        help,
        labelNames: ['image', 'version'],
        registers: [this.registry],
        collect() {
          for (const i of images()) this.set({ image: i.name, version: String(i.version) }, read(i.torrent));
        },
      });
    perImage('shoal_seeder_bittorrent_uploaded_bytes', 'Bytes of an image uploaded to peers over BitTorrent since start', (t) => t.uploaded);
    perImage('shoal_seeder_peers', 'Peers connected for an image', (t) => t.numPeers);
    this.http = new Counter({
      name: 'shoal_seeder_http_uploaded_bytes',
      help: 'Bytes of piece files served over HTTP (web seed, unicast) since start',
      labelNames: ['image', 'version'],
      registers: [this.registry],
    });
    this.proofs = new Counter({
      name: 'shoal_seeder_proof_read_bytes',
      help: "Bytes of piece files the portal read to check PCs' proofs (not counted as served to PCs)",
      labelNames: ['image', 'version'],
      registers: [this.registry],
    });
  }

  readForProof(image: string, version: number, bytes: number): void {
    if (bytes > 0) this.proofs.inc({ image, version: String(version) }, bytes);
  }

  servedOverHttp(image: string, version: number, bytes: number): void {
    if (bytes > 0) this.http.inc({ image, version: String(version) }, bytes);
  }

  text(): Promise<string> {
    return this.registry.metrics();
  }
}
