import type { HostDeps } from '../hosts/host-deps.js';
import type { LiveTasks } from './live-tasks.js';
import type { ProofChallenges } from './proof-challenges.js';
import type { ReportCache } from './report-cache.js';
import type { TaskHostView } from './task-host-view.js';

/** What the tasks' routes (and the boot routes that start a PC's task) need beyond the hosts' share. */
export interface TaskDeps extends HostDeps {
  /** Where progress goes for the dashboards watching. */
  live: LiveTasks<TaskHostView>;
  /** PCs' progress reports: keys and states read once, numbers written in batches. */
  reports: ReportCache;
  /** Open challenges to PCs that say they hold their image. */
  proofs: ProofChallenges;
}
