/** Migration 003-capture-version */
import { addColumns } from './migration.js';

export default addColumns({
  tasks: {
    image_version: (t, c) => t.integer(c),
  },
});
