import type { Db } from './db/open.js';
import type { PortalConfig } from './config.js';
import type { LiveTasks } from './live.js';
import type { ReportCache } from './report-cache.js';
import type { TaskHostView } from './routes/task-host-view.js';
import type { Wakes } from './wake.js';
import type { ProofChallenges } from './proof-challenges.js';

/** What every route module is given. */
export interface PortalDeps {
  db: Db;
  config: PortalConfig;
  /** Where progress goes for the dashboards watching. */
  live: LiveTasks<TaskHostView>;
  /** PCs' progress reports: keys and states read once, numbers written in batches. */
  reports: ReportCache;
  /** Wake-on-LAN packets going out, paced. */
  wakes: Wakes;
  /** Open challenges to PCs that say they hold their image. */
  proofs: ProofChallenges;
}
