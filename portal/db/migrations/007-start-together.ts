/** Migration 007-start-together: A swarm deploy that starts together: when its first PC was ready, and when the group started. */
import { addColumns } from './migration.js';

export default addColumns({
  tasks: {
    first_ready_ms: (t, c) => t.bigInteger(c),
    started_ms: (t, c) => t.bigInteger(c),
  },
});
