/** Migration 010-key-address: The address a host's task key was handed to: the key goes out once, to that address. */
import { addColumns } from './migration.js';

export default addColumns({
  task_hosts: {
    key_ip: (t, c) => t.string(c, 64),
  },
});
