import type { Knex } from 'knex';

/** One step of the schema: `up` builds it, `down` takes it back. */
export interface Migration {
  up(k: Knex): Promise<void>;
  down(k: Knex): Promise<void>;
}
