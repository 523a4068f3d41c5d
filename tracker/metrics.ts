/** The tracker's /metrics, in Prometheus text format, read from the swarms when scraped. */
import { Gauge, Registry } from 'prom-client';

export interface SwarmStats {
  infoHash: string;
  seeders: number;
  leechers: number;
  completed: number;
}

export class TrackerMetrics {
  private readonly registry = new Registry();
  readonly contentType = this.registry.contentType;

  constructor(swarms: () => SwarmStats[], refused: () => Map<string, number>) {
    const perSwarm = (name: string, help: string, pick: (s: SwarmStats) => number): void => {
      new Gauge({
        name,
        help,
        labelNames: ['infohash'],
        registers: [this.registry],
        collect() {
          this.reset();
          for (const s of swarms()) this.set({ infohash: s.infoHash }, pick(s));
        },
      });
    };
    perSwarm('shoal_tracker_seeders', 'Peers holding the whole image', (s) => s.seeders);
    perSwarm('shoal_tracker_leechers', 'Peers still downloading', (s) => s.leechers);
    perSwarm('shoal_tracker_completed', 'Peers that finished the image since the tracker started', (s) => s.completed);
    new Gauge({
      name: 'shoal_tracker_refused',
      help: 'Announces refused, by reason',
      labelNames: ['reason'],
      registers: [this.registry],
      collect() {
        this.reset();
        for (const [kind, n] of refused()) this.set({ reason: kind }, n);
      },
    });
  }

  text(): Promise<string> {
    return this.registry.metrics();
  }
}
