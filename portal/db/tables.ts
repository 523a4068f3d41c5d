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
}
