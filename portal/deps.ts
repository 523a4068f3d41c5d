import type { Db } from './db.js';
import type { PortalConfig } from './config.js';

/** What every route module is given. */
export interface PortalDeps {
  db: Db;
  config: PortalConfig;
}
