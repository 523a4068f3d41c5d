import type { PortalDeps } from '../deps.js';
import type { Wakes } from './wake.js';

/** What the hosts' routes need beyond every route's share: Wake-on-LAN packets going out, paced. */
export interface HostDeps extends PortalDeps {
  wakes: Wakes;
}
