/** Migration 012-enrolment: Enrolment: a MAC that registered itself waits for approval; a group may have a registration secret. */
import { addColumns } from './migration.js';

export default addColumns({
  hosts: {
    pending: (t, c) => t.boolean(c).notNullable().defaultTo(false),
  },
  groups: {
    secret_hash: (t, c) => t.string(c, 64),
  },
});
