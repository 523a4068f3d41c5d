import type { Db } from './db/open.js';
import type { PortalConfig } from './config.js';

/**
 * What every route module is given: the database and the settings. What only some features need
 * (the tasks' live feed and report cache, the wake queue) is added by those features' own types
 * (tasks/task-deps.ts, hosts/host-deps.ts), so this module imports no feature and no feature
 * reaches another's state through it.
 */
export interface PortalDeps {
  db: Db;
  config: PortalConfig;
}
