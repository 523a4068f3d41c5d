/**
 * The multicast sessions a storage node runs: the portal names them in its heartbeat replies
 * (one per active multicast task this node is the sender for); each is started once and runs
 * until udp-sender is done with its receivers, or until the portal stops naming it (the task was
 * cancelled, or every PC is done: a PC that held the whole image never joins, and udp-sender would
 * wait for it for ever). A session that ended is not started again for the same task: PCs that
 * missed it repair over unicast. Two heartbeats can overlap: a session being started counts as
 * running, so one task never gets two senders.
 */
import type { MulticastSession } from '../shared/http/api.js';
import { pieceFileName } from '../shared/image/manifest.js';
import { openImage } from '../shared/image/store.js';
import { logger } from '../shared/log.js';
import { startMulticastSender, type MulticastSender } from './multicast-sender.js';

const log = logger('multicast');

export class MulticastSessions {
  private readonly running = new Map<number, MulticastSender>();
  private readonly ended = new Set<number>();

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
          .catch((err) => log.error({ task: s.taskId, err: (err as Error).message }, 'multicast session failed'))
          .finally(() => {
            this.running.delete(s.taskId);
            this.ended.add(s.taskId);
            log.info({ task: s.taskId }, 'multicast session over');
          });
      } catch (err) {
        this.ended.add(s.taskId);
        log.error({ task: s.taskId, image: s.image.name, err: (err as Error).message }, 'cannot start the multicast session');
      } finally {
        this.starting.delete(s.taskId);
      }
    }
  }

  stop(): void {
    for (const s of this.running.values()) s.stop();
  }
}
