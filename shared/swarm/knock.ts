/**
 * A knock: before connecting to storage nodes' BitTorrent ports, show each node the key (in its
 * web seed URL) so that it serves this address (seeder/admission.ts). A node that cannot be
 * reached is not fatal: the tracker's word admits the address as well.
 */
import { admitUrl } from '../keys/swarm-key.js';
import type { Logger } from 'pino';

const KNOCK_TIMEOUT_MS = 3_000;

export async function knock(webSeeds: string[], version: number, log: Logger): Promise<void> {
  await Promise.all(
    webSeeds.map(async (ws) => {
      const url = admitUrl(ws, version);
      try {
        const res = await fetch(url, { method: 'POST', signal: AbortSignal.timeout(KNOCK_TIMEOUT_MS) });
        if (!res.ok) throw new Error(`HTTP ${res.status} ${(await res.text()).slice(0, 200)}`);
      } catch (err) {
        log.warn({ node: new URL(ws).host, err: (err as Error).message }, 'a storage node did not take this key: its BitTorrent port may refuse this PC');
      }
    }),
  );
}
