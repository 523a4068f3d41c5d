/**
 * The multicast sessions a storage node runs: the portal names them in its heartbeat replies
 * (one per active multicast task this node is the sender for); each is started once and runs
 * until udp-sender is done with its receivers, or until the portal stops naming it (the task was
 * cancelled, or every PC is done: a PC that held the whole image never joins, and udp-sender would
 * wait for it for ever). A session that ended is not started again for the same task: PCs that
 * missed it repair over unicast. Two heartbeats can overlap: a session being started counts as
 * running, so one task never gets two senders.
 */
import type { MulticastSession, MulticastStatus } from '../shared/http/api.js';
import { pieceFileName } from '../shared/image/manifest.js';
import { openImage } from '../shared/image/store.js';
import { logger } from '../shared/log.js';
import { startMulticastSender, type MulticastSender } from './multicast-sender.js';

const log = logger('multicast');
/** How long a session that is over is still reported, so the portal shows how it ended. */
const ENDED_REPORTED_MS = 10 * 60_000;

export class MulticastSessions {
  private readonly running = new Map<number, MulticastSender>();
  private readonly ended = new Set<number>();
  /** How each session that is over ended, and when; reported for ENDED_REPORTED_MS. */
  private readonly endings = new Map<number, { status: MulticastStatus; at: number }>();
  private readonly stopping = new Set<number>();

  constructor(
    private readonly store: string,
    private readonly iface?: string,
  ) {}

  private readonly starting = new Set<number>();

  async follow(sessions: MulticastSession[]): Promise<void> {
    const named = new Set(sessions.map((s) => s.taskId));
    for (const [taskId, sender] of this.running) {
      if (named.has(taskId)) continue;
      log.info({ task: taskId }, 'the portal no longer names this multicast session: stopping it');
      this.stopping.add(taskId);
      sender.stop();
    }
    for (const s of sessions) {
      if (this.running.has(s.taskId) || this.starting.has(s.taskId) || this.ended.has(s.taskId)) continue;
      this.starting.add(s.taskId);
      try {
        const { dir, manifest } = await openImage(this.store, s.image.name, s.image.version);
        const sender = startMulticastSender({
          imageDir: dir,
          pieceFiles: manifest.disks.flatMap((d) => d.areas.map(pieceFileName)),
          portbase: s.portbase,
          minReceivers: s.minReceivers,
          maxWaitSeconds: s.maxWaitSeconds,
          ...(this.iface && { interface: this.iface }),
        });
        this.running.set(s.taskId, sender);
        void sender.done
          .then(
            (code) => this.noteEnd(s.taskId, sender, this.stopping.has(s.taskId) ? 'stopped' : code === 0 ? 'done' : 'failed'),
            (err) => {
              this.noteEnd(s.taskId, sender, 'failed');
              log.error({ task: s.taskId, err: (err as Error).message }, 'multicast session failed');
            },
          )
          .finally(() => {
            this.stopping.delete(s.taskId);
            this.running.delete(s.taskId);
            this.ended.add(s.taskId);
            log.info({ task: s.taskId }, 'multicast session over');
          });
      } catch (err) {
        this.ended.add(s.taskId);
        this.endings.set(s.taskId, { status: { taskId: s.taskId, state: 'failed', receivers: 0, firstJoinedAt: null }, at: Date.now() });
        log.error({ task: s.taskId, image: s.image.name, err: (err as Error).message }, 'cannot start the multicast session');
      } finally {
        this.starting.delete(s.taskId);
      }
    }
  }

  private noteEnd(taskId: number, sender: MulticastSender, state: MulticastStatus['state']): void {
    const { firstJoinedMs } = sender.status();
    const firstJoinedAt = firstJoinedMs === null ? null : new Date(firstJoinedMs).toISOString();
    this.endings.set(taskId, { status: { taskId, state, receivers: 0, firstJoinedAt }, at: Date.now() });
  }

  /** Each session's state for the heartbeat: the running ones, and those lately over. */
  statuses(): MulticastStatus[] {
    const now = Date.now();
    for (const [taskId, e] of this.endings) if (e.at < now - ENDED_REPORTED_MS) this.endings.delete(taskId);
    const running = [...this.running].map(([taskId, sender]): MulticastStatus => {
      const { streaming, receivers, firstJoinedMs } = sender.status();
      return {
        taskId,
        state: streaming ? 'streaming' : 'waiting',
        receivers,
        firstJoinedAt: firstJoinedMs === null ? null : new Date(firstJoinedMs).toISOString(),
      };
    });
    return [...running, ...[...this.endings.values()].filter((e) => !this.running.has(e.status.taskId)).map((e) => e.status)];
  }

  stop(): void {
    for (const s of this.running.values()) s.stop();
  }
}
