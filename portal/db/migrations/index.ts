/**
 * Every migration of the portal's database, in the order they run (by name); each runs once per
 * database. A new one goes in a file of its own here, named with the next number, and in this list.
 */
import m001 from './001-swarm.js';
import m002 from './002-capture-tasks.js';
import m003 from './003-capture-version.js';
import m004 from './004-portal.js';
import m005 from './005-unicast-node.js';
import m006 from './006-boot-finish.js';
import m007 from './007-start-together.js';
import m008 from './008-host-identity.js';
import m009 from './009-wake-schedules.js';
import m010 from './010-key-address.js';
import m011 from './011-token-expiry.js';
import m012 from './012-enrolment.js';
import m013 from './013-capture-review.js';
import m014 from './014-proof.js';
import m015 from './015-image-lifecycle.js';
import m017 from './017-audit-index.js';
import m018 from './018-host-name-order.js';
import m019 from './019-node-jobs.js';
import type { Migration } from './migration.js';

export const MIGRATIONS: Record<string, Migration> = {
  '001-swarm': m001,
  '002-capture-tasks': m002,
  '003-capture-version': m003,
  '004-portal': m004,
  '005-unicast-node': m005,
  '006-boot-finish': m006,
  '007-start-together': m007,
  '008-host-identity': m008,
  '009-wake-schedules': m009,
  '010-key-address': m010,
  '011-token-expiry': m011,
  '012-enrolment': m012,
  '013-capture-review': m013,
  '014-proof': m014,
  '015-image-lifecycle': m015,
  '017-audit-index': m017,
  '018-host-name-order': m018,
  '019-node-jobs': m019,
};
