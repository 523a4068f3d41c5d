/** Migration 005-unicast-node: Which storage node each PC's ticket named first for unicast: the portal's measure of a node's load. */
import { addColumns } from './migration.js';

export default addColumns({
  task_hosts: {
    unicast_node: (t, c) => t.string(c),
  },
});
