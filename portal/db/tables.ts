/**
 * The rows of the portal's tables as the code reads them: one interface per table, the one place
 * a column's type is written down (the migrations in migrations/ make the columns). knex types
 * `db('name')` by these (its documented module augmentation, at the end); a migration, which runs
 * against the schema as it was, reads rows untyped (migrations/migration.ts).
 *
 * Numbers are numbers on both databases: PostgreSQL's bigint (times in ms, byte counts, counts)
 * is read as a JavaScript number (open.ts; every such value stays far below 2^53). A boolean
 * column is 0/1 on SQLite and true/false on PostgreSQL: read it as truthy, never compare with ===.
 */
import type { TaskHostState, TaskKind } from '../../shared/http/api.js';
import type { ImageType } from '../../shared/image/manifest.js';
import type { ImageAccess, ImageStatus, Role, TaskState } from '../../shared/http/portal-contract.js';
import type { NODE_JOB_KINDS, NodeJobState } from '../../shared/http/node-jobs.js';

type NodeJobKind = (typeof NODE_JOB_KINDS)[number];

/** A boolean column as it comes back: 0/1 from SQLite, true/false from PostgreSQL. */
export type Flag = boolean | 0 | 1;

export interface NodeRow {
  name: string;
  http_url: string;
  bt_addr: string;
  last_seen_ms: number;
  storage_group: string | null;
  capacity_bytes: number | null;
  free_bytes: number | null;
  /** Bytes per second this node's uploads are held to; null: no limit. */
  upload_limit: number | null;
}

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
  /** What a deploy writes to disk (the manifest's rawBytes); null before migration 015 read it. */
  raw_bytes?: number | null;
  /** Its image was deleted: its files are purged from every store; the row stays (tasks name it). */
  purged_ms?: number | null;
}

/** Which storage node holds which image version (as it last reported). */
export interface NodeImageRow {
  node: string;
  info_hash: string;
}

export interface HostRow {
  mac: string;
  ip: string | null;
  last_seen_ms: number | null;
  name: string | null;
  /** The name's sort key (db/name-order.ts): pc-9 before pc-10. */
  name_order: string | null;
  disk: string | null;
  group_name: string | null;
  image_name: string | null;
  /** JSON of the Inventory the PC reported. */
  inventory: string | null;
  created_ms: number | null;
  /** Registered from the network, not yet accepted by an admin. */
  pending: Flag;
}

export interface TaskRow {
  id: number;
  kind: TaskKind;
  info_hash: string | null;
  state: TaskState;
  linger_seconds: number;
  created_ms: number;
  image_name: string | null;
  image_type: ImageType | null;
  node: string | null;
  image_version: number | null;
  group_name: string | null;
  scheduled_ms: number | null;
  created_by: string | null;
  min_receivers: number | null;
  max_wait_seconds: number | null;
  finish: string;
  first_ready_ms: number | null;
  started_ms: number | null;
  wake_per_second: number | null;
  schedule_id: number | null;
  publish: Flag;
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

export interface GroupRow {
  name: string;
  description: string | null;
  created_ms: number;
  /** SHA-256 of the group's enrolment secret; null: PCs cannot enrol into it by themselves. */
  secret_hash: string | null;
}

export interface StorageGroupRow {
  name: string;
  description: string | null;
  created_ms: number;
}

/** What the catalog says of an image name, over all its versions. */
export interface ImageInfoRow {
  name: string;
  alias: string | null;
  description: string | null;
  os_type: string | null;
  image_type: ImageType;
  owner: string | null;
  access: ImageAccess;
  status: ImageStatus;
  /** JSON array of strings. */
  tags: string;
  created_ms: number;
  set_identity: Flag;
  /** A retired or deleted image's access before (public or private): what bringing it back restores. */
  access_before?: ImageAccess | null;
  /** When it was retired or deleted. */
  access_ms?: number | null;
}

export interface UserRow {
  name: string;
  password_hash: string;
  role: Role;
  created_ms: number;
}

export interface SessionRow {
  id_hash: string;
  user_name: string;
  expires_ms: number;
}

export interface ApiTokenRow {
  id: number;
  user_name: string;
  label: string;
  token_hash: string;
  created_ms: number;
  last_used_ms: number | null;
  expires_ms: number | null;
  revoked_ms: number | null;
}

export interface AuditRow {
  id: number;
  at_ms: number;
  actor: string;
  action: string;
  target: string | null;
  /** JSON, or null. */
  detail: string | null;
}

export interface TaskHostLogRow {
  id: number;
  task_id: number;
  mac: string;
  at_ms: number;
  message: string;
}

export interface ScheduleRow {
  id: number;
  name: string;
  cron: string;
  /** JSON of the task each run makes. */
  task: string;
  enabled: Flag;
  next_run_ms: number | null;
  last_run_ms: number | null;
  last_task_id: number | null;
  last_error: string | null;
  created_by: string;
  created_ms: number;
}

/** A job a storage node runs to make a new image version (nodes/node-job-routes.ts). */
export interface NodeJobRow {
  id: number;
  kind: NodeJobKind;
  node: string;
  image_name: string;
  image_version: number;
  state: NodeJobState;
  /** JSON of the job's own part of NodeJobOffer (the pull's key inside: never answered). */
  params: string;
  done_bytes: number;
  total_bytes: number;
  error: string | null;
  info_hash: string | null;
  created_by: string;
  created_ms: number;
  started_ms: number | null;
  updated_ms: number | null;
  finished_ms: number | null;
}

/** A read key this site issued another for pulling an image (images/site-key-routes.ts). */
export interface SiteKeyRow {
  id: number;
  image_name: string;
  info_hash: string | null;
  image_version: number | null;
  site: string;
  created_by: string;
  created_ms: number;
  expires_ms: number;
  revoked_ms: number | null;
}

declare module 'knex/types/tables.js' {
  interface Tables {
    nodes: NodeRow;
    images: ImageRow;
    node_images: NodeImageRow;
    hosts: HostRow;
    tasks: TaskRow;
    task_hosts: TaskHostRow;
    groups: GroupRow;
    storage_groups: StorageGroupRow;
    image_info: ImageInfoRow;
    users: UserRow;
    sessions: SessionRow;
    api_tokens: ApiTokenRow;
    audit: AuditRow;
    task_host_log: TaskHostLogRow;
    schedules: ScheduleRow;
    node_jobs: NodeJobRow;
    site_keys: SiteKeyRow;
  }
}
