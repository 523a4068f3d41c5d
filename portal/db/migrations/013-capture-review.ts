/** Migration 013-capture-review: A version captured over the network waits for an admin's review, unless its task said publish. */
import { addColumns } from './migration.js';

export default addColumns({
  images: {
    review_since_ms: (t, c) => t.bigInteger(c),
  },
  tasks: {
    publish: (t, c) => t.boolean(c).notNullable().defaultTo(false),
  },
});
