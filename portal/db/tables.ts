/**
 * The rows of the portal's tables as the code reads them: one interface per table, the one place
 * a column's type is written down (the migrations in migrations/ make the columns).
 */
import type { TaskHostState } from '../../shared/http/api.js';

export interface ImageRow {
  info_hash: string;
  name: string;
  version: number;
  manifest: string;
  torrent: Buffer;
  created_ms: number;
  size_bytes: number | null;
  min_disk_bytes: number | null;
  /** Set while a captured version waits for an admin's review; deploys skip it. */
  review_since_ms: number | null;
}

export interface TaskHostRow {
  task_id: number;
  mac: string;
  key: string;
  key_expires_ms: number;
  state: TaskHostState;
  progress: string | null;
  error: string | null;
  updated_ms: number | null;
  /** The storage node the PC's ticket named first for unicast (its load). */
  unicast_node: string | null;
  /** The address the task key went to. */
  key_ip: string | null;
  /** When the PC proved it holds the image. */
  proven_ms: number | null;
}

// knex types `db('images')` and `db('task_hosts')` by these rows (its documented module augmentation);
// a migration, which runs against the schema as it was, reads them untyped (migrations/migration.ts).
declare module 'knex/types/tables.js' {
  interface Tables {
    images: ImageRow;
    task_hosts: TaskHostRow;
  }
}
