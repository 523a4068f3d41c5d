/** Migration 002-capture-tasks */
import { addColumns } from './migration.js';

export default addColumns({
  tasks: {
    image_name: (t, c) => t.string(c),
    image_type: (t, c) => t.string(c),
    node: (t, c) => t.string(c),
  },
});
