/** Migration 006-boot-finish */
import { addColumns } from './migration.js';

export default addColumns({
  tasks: {
    finish: (t, c) => t.string(c).notNullable().defaultTo('reboot'),
  },
});
