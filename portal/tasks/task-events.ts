/**
 * A task's live feed for dashboards (server-sent events): a snapshot on connect, then the hosts
 * that changed (batched by LiveTasks), the task's own changes, and once a second the swarm's
 * totals, summed here from the hosts' latest reports so no query runs per tick.
 */
import type { Context } from 'koa';
import { sessionReport } from '../nodes/node-reports.js';
import type { TaskDeps } from './task-deps.js';
import type { TaskHostView } from './task-host-view.js';

const TOTALS_MS = 1_000;
const PING_MS = 15_000;

interface Snapshot {
  state: string;
  hosts: TaskHostView[];
}

export async function streamTaskEvents<T extends Snapshot>(
  ctx: Context,
  deps: TaskDeps,
  taskId: number,
  snapshot: T,
  summarize: () => Promise<{ state: string }>,
): Promise<void> {
  const hosts = new Map(snapshot.hosts.map((h) => [h.mac, h]));
  let state = snapshot.state;
  // Written to the socket directly: Koa would pipe a body stream and report every dashboard
  // that goes away as a failed response.
  ctx.respond = false;
  const res = ctx.res;
  const send = (event: string, data: unknown): void => {
    res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
  };
  ctx.req.socket.setTimeout(0);
  ctx.req.socket.setNoDelay(true);
  res.writeHead(200, { 'Content-Type': 'text/event-stream; charset=utf-8', 'Cache-Control': 'no-cache', 'X-Accel-Buffering': 'no' });
  send('snapshot', snapshot);

  let lastFromStorage: { at: number; bytes: number } | undefined;
  const totals = (): void => {
    let down = 0;
    let up = 0;
    let fromStorage = 0;
    let done = 0;
    for (const h of hosts.values()) {
      if (h.state === 'done' || h.state === 'seeding') done++;
      if (!h.progress || h.state === 'done' || h.state === 'failed' || h.state === 'cancelled') continue;
      down += h.progress.downloadBytesPerSec;
      up += h.progress.uploadBytesPerSec;
    }
    for (const h of hosts.values()) fromStorage += h.progress?.fromStorageBytes ?? 0;
    const at = Date.now();
    const rate = lastFromStorage ? Math.max(0, ((fromStorage - lastFromStorage.bytes) * 1000) / (at - lastFromStorage.at)) : 0;
    lastFromStorage = { at, bytes: fromStorage };
    send('totals', { at: new Date(at).toISOString(), downloadBytesPerSec: down, uploadBytesPerSec: up, fromStorageBytesPerSec: rate, done, total: hosts.size });
  };
  let summaryDue = false;
  const unwatchHosts = deps.live.watchHosts(taskId, (changed) => {
    for (const h of changed) hosts.set(h.mac, h);
    send('hosts', { hosts: changed });
  });
  // Several changes in a moment make one summary query.
  const summaryChanged = (): void => {
    if (summaryDue) return;
    summaryDue = true;
    setTimeout(() => {
      summaryDue = false;
      summarize().then(
        (s) => {
          state = s.state;
          send('task', s);
        },
        () => {
          /* the task is gone: the feed just stops changing */
        },
      );
    }, 100);
  };
  const unwatchTask = deps.live.watchTask(taskId, summaryChanged);
  // A multicast session's state comes with its node's heartbeat, which the nodes' room keeps
  // (it cannot reach the tasks' feed): looked at every tick, sent in the task's summary on change.
  const sessionKey = (): string => {
    const r = sessionReport(deps.db, taskId);
    return r ? `${r.node} ${r.state} ${r.receivers} ${r.firstJoinedAt}` : '';
  };
  let lastSession = sessionKey();
  let lastPing = Date.now();
  const tick = setInterval(() => {
    const session = sessionKey();
    if (session !== lastSession) {
      lastSession = session;
      summaryChanged();
    }
    if (state === 'active') totals();
    else if (Date.now() - lastPing >= PING_MS) {
      lastPing = Date.now();
      res.write(': ping\n\n');
    }
  }, TOTALS_MS);
  const stop = (): void => {
    clearInterval(tick);
    unwatchHosts();
    unwatchTask();
    res.end();
  };
  res.once('close', stop);
}
