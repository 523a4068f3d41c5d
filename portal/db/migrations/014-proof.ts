/** Migration 014-proof: When a host proved it holds the image (portal/tasks/proof.ts): only then are its seeding and done believed. */
import { addColumns } from './migration.js';

export default addColumns({
  task_hosts: {
    proven_ms: (t, c) => t.bigInteger(c),
  },
});
