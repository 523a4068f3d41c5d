/**
 * The dashboards of bench-portal, in a worker thread of their own: parsing 5 event streams must
 * not delay the simulated PCs' requests, whose latency the bench measures. Each `hosts` event is
 * matched with the moment its report was sent (a shared table the PCs write: sentAt[pc][report]).
 */
import { parentPort, workerData } from 'node:worker_threads';

const { portal, token, taskId, dashboards, sentAt, reportsPerPc, macIndex } = workerData as {
  portal: string;
  token: string;
  taskId: number;
  dashboards: number;
  sentAt: SharedArrayBuffer;
  reportsPerPc: number;
  macIndex: Record<string, number>;
};
const sent = new Float64Array(sentAt);
const lags: number[] = [];
const errors: string[] = [];
const aborts: AbortController[] = [];

async function watch(ac: AbortController): Promise<void> {
  const res = await fetch(`${portal}/api/v1/tasks/${taskId}/events`, { headers: { authorization: `Bearer ${token}` }, signal: ac.signal });
  let buf = '';
  const decoder = new TextDecoder();
  for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
    buf += decoder.decode(chunk, { stream: true });
    let end: number;
    while ((end = buf.indexOf('\n\n')) >= 0) {
      const message = buf.slice(0, end);
      buf = buf.slice(end + 2);
      if (!message.startsWith('event: hosts\n')) continue;
      const now = Date.now();
      for (const h of (JSON.parse(message.slice(message.indexOf('data: ') + 6)) as { hosts: Array<{ mac: string; progress: { piecesDone: number } | null }> })
        .hosts) {
        const pc = macIndex[h.mac];
        const n = h.progress?.piecesDone ?? 0;
        const at = pc === undefined || n >= reportsPerPc ? 0 : sent[pc * reportsPerPc + n]!;
        if (at) lags.push(now - at);
      }
    }
  }
}

for (let d = 0; d < dashboards; d++) {
  const ac = new AbortController();
  aborts.push(ac);
  watch(ac).catch((err) => {
    if (!ac.signal.aborted) errors.push((err as Error).message);
  });
}
parentPort!.on('message', (m) => {
  if (m !== 'stop') return;
  for (const a of aborts) a.abort();
  parentPort!.postMessage({ lags, errors });
});
