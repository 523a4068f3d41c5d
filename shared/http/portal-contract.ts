/**
 * What each JSON route of the portal answers, one zod schema per answer. The routes declare them
 * (portal/http/api-router.ts: `response`), the OpenAPI document is made from them, the portal
 * checks its own answers against them when SHOAL_CHECK_RESPONSES=1 (every root test), the web UI
 * takes its types from them (type-only: no zod in its bundle), and the typed client
 * (portal-client.ts) checks what it reads with them. One contract, so none of those can drift.
 *
 * Schemas describe the answer as it is sent: plain objects, not strict (an added field breaks no
 * caller); optional where a handler leaves a field out, nullable where it writes null. Ids are
 * integer columns (number on SQLite and PostgreSQL alike); byte counts, which are bigint on
 * PostgreSQL, are turned into numbers by the handlers before they go out.
 */
import { z } from 'zod';
import { CreateTaskSchema, InventorySchema, ProgressSchema, TaskHostStateSchema, TaskKindSchema } from './api.js';
import { IMAGE_TYPES } from '../image/manifest.js';

export {
  HeartbeatReplySchema,
  HostTaskSchema,
  ProgressReplySchema,
  ReplicaSourceSchema,
  SwarmTicketSchema,
  TaskHostStateSchema,
  TaskKindSchema,
  type HostTask,
  type ProgressReply,
  type ReplicaSource,
  type SwarmTicket,
  type TaskHostState,
} from './api.js';

/** An ISO 8601 time as the portal writes it (Date.toISOString). */
const time = z.string();
/** A time the row may lack (written before the column existed, or not yet happened). */
const maybeTime = time.nullable();
const id = z.number().int();
const count = z.number().int().nonnegative();

// ---- users and sessions ----

export const ROLES = ['admin', 'image-admin', 'readonly'] as const;
export const RoleSchema = z.enum(ROLES);
export type Role = z.infer<typeof RoleSchema>;

export const SessionUserSchema = z.object({ name: z.string(), role: RoleSchema });
export type SessionUser = z.infer<typeof SessionUserSchema>;
/** POST and GET /session. */
export const SessionSchema = z.object({ user: SessionUserSchema });

export const UserSchema = SessionUserSchema.extend({ createdAt: maybeTime });
export type User = z.infer<typeof UserSchema>;
export const UserListSchema = z.object({ users: z.array(UserSchema) });

export const TokenSchema = z.object({
  id,
  user: z.string(),
  label: z.string(),
  createdAt: maybeTime,
  lastUsedAt: maybeTime,
  expiresAt: maybeTime,
});
export type Token = z.infer<typeof TokenSchema>;
export const TokenListSchema = z.object({ tokens: z.array(TokenSchema) });
/** The one answer that shows a token's secret. */
export const NewTokenSchema = z.object({ id, label: z.string(), token: z.string(), expiresAt: time });
export type NewToken = z.infer<typeof NewTokenSchema>;

export const AuditEntrySchema = z.object({
  id,
  at: maybeTime,
  actor: z.string(),
  action: z.string(),
  target: z.string().nullable(),
  /** The action's own details, as it logged them; a change's fields as { from, to } (older entries: the new value only). */
  detail: z.unknown(),
  /** The detail in words: "role: image-admin → readonly". */
  summary: z.string(),
});
export type AuditEntry = z.infer<typeof AuditEntrySchema>;
/** One page of the audit log, newest first, and how many entries match the filter in all. */
export const AuditListSchema = z.object({ entries: z.array(AuditEntrySchema), total: count });

// ---- hosts and groups ----

export const GroupSchema = z.object({
  name: z.string(),
  description: z.string().nullable(),
  hosts: count,
  /** Whether a PC registering with the group's secret joins at once. */
  registrationSecret: z.boolean(),
});
export type Group = z.infer<typeof GroupSchema>;
export const GroupListSchema = z.object({ groups: z.array(GroupSchema) });

export const HostSchema = z.object({
  mac: z.string(),
  name: z.string().nullable(),
  disk: z.string().nullable(),
  group: z.string().nullable(),
  image: z.string().nullable(),
  ip: z.string().nullable(),
  /** Registered itself and waits for an admin's approval. */
  pending: z.boolean(),
  lastSeen: maybeTime,
  createdAt: maybeTime,
  inventory: InventorySchema.nullable(),
  /** Its newest task, and its state there. */
  task: z.object({ id, kind: TaskKindSchema, state: TaskHostStateSchema }).nullable(),
  /**
   * Why its image can no longer be picked: retired, or deleted (marked, or gone); null when it
   * can (or it has none). The UI shows the name marked so, never a blank choice.
   */
  imageGone: z.enum(['retired', 'deleted']).nullable().optional(),
});
export type Host = z.infer<typeof HostSchema>;
export type { Inventory } from './api.js';
/** Columns GET /hosts sorts by. */
export const HOST_SORTS = ['name', 'mac', 'group', 'image', 'ip', 'lastSeen', 'task'] as const;
export type HostSort = (typeof HOST_SORTS)[number];
export const HostListSchema = z.object({
  hosts: z.array(HostSchema),
  /** How many hosts match the filter (more than `hosts` when a page was asked for). */
  total: count.optional(),
  /** How many hosts wait for approval, whatever the filter. */
  pendingTotal: count.optional(),
});
/** One task a host was in, newest first (GET /hosts/:mac/tasks). */
export const HostHistoryEntrySchema = z.object({
  id,
  kind: TaskKindSchema,
  /** The task's own state, and the host's in it. */
  taskState: z.enum(['scheduled', 'active', 'done', 'cancelled']),
  state: TaskHostStateSchema,
  error: z.string().nullable(),
  image: z.string().nullable(),
  version: z.number().int().nullable(),
  createdAt: maybeTime,
  updatedAt: maybeTime,
});
export type HostHistoryEntry = z.infer<typeof HostHistoryEntrySchema>;
export const HostHistorySchema = z.object({ tasks: z.array(HostHistoryEntrySchema) });
/** POST /hosts/bulk: what was done to which hosts, and what each was before (for Undo). */
export const HostBulkResultSchema = z.object({
  action: z.string(),
  hosts: z.array(z.string()),
  before: z.array(z.object({ mac: z.string(), group: z.string().nullable(), image: z.string().nullable() })),
  /** A wake: the hosts whose subnet is unknown. */
  notWoken: z.array(z.string()).optional(),
});
export type HostBulkResult = z.infer<typeof HostBulkResultSchema>;
export const ApprovedSchema = z.object({ approved: z.array(z.string()) });
/**
 * What a CSV import did, or (dryRun) would do: hosts created and updated; the groups the file
 * names that do not exist yet (a dry run) or that it created (createGroups).
 */
export const HostImportSchema = z.object({
  created: count,
  updated: count,
  dryRun: z.boolean().optional(),
  unknownGroups: z.array(z.string()).optional(),
  groupsCreated: z.array(z.string()).optional(),
  /** How the file was read: Shoal's CSV with its header line, or FOG's host export (no header). */
  format: z.enum(['header', 'fog']).optional(),
  delimiter: z.enum([',', ';']).optional(),
});
export type HostImport = z.infer<typeof HostImportSchema>;
export const RegisteredSchema = z.object({ mac: z.string() });
/** A wake of one host or a group: who got a packet, where, and how long the group takes. */
export const WakeResultSchema = z.object({
  hosts: count,
  notWoken: z.array(z.string()),
  addresses: z.array(z.string()),
  perSecond: z.number().positive(),
  seconds: z.number().nonnegative(),
});
export type WakeResult = z.infer<typeof WakeResultSchema>;

// ---- images ----

export { IMAGE_TYPES };
export const ImageTypeSchema = z.enum(IMAGE_TYPES);
export type ImageType = z.infer<typeof ImageTypeSchema>;
/**
 * Who sees an image, and where it is in its life: public or private while in use; retired (kept on
 * disk, hidden from new tasks and host assignment, can be brought back); deleted (its files purged
 * from every store: what is left is a tombstone, listed only when asked for).
 */
export const ImageAccessSchema = z.enum(['public', 'private', 'retired', 'deleted']);
export type ImageAccess = z.infer<typeof ImageAccessSchema>;
/** pending: no version yet (a capture is on its way); failed: its first capture failed. */
export const ImageStatusSchema = z.enum(['pending', 'ok', 'failed']);
export type ImageStatus = z.infer<typeof ImageStatusSchema>;

export const ImageVersionSchema = z.object({
  /** Captured by a PC and not yet let through by an admin: deploys do not pick it unless named. */
  awaitingReview: z.boolean(),
  version: z.number().int().positive(),
  infoHash: z.string(),
  /** Unknown for a version published before sizes were kept. */
  sizeBytes: z.number().nonnegative().nullable(),
  minDiskBytes: z.number().nonnegative().nullable(),
  createdAt: time,
  /** Storage nodes up and holding it. */
  nodes: z.array(z.string()),
  /** What a deploy writes to disk (the pieces decompressed); sizeBytes is what goes over the wire. */
  rawBytes: z.number().nonnegative().nullable().optional(),
  /** Every node that reported it, up or not: its replication state (purging: told to remove it, not yet done). */
  holders: z.array(z.object({ node: z.string(), up: z.boolean(), lastSeen: time, state: z.enum(['holds', 'down', 'purging']) })).optional(),
});
export type ImageVersion = z.infer<typeof ImageVersionSchema>;

export const ImageSchema = z.object({
  name: z.string(),
  alias: z.string().nullable(),
  description: z.string().nullable(),
  osType: z.string().nullable(),
  imageType: ImageTypeSchema,
  owner: z.string().nullable(),
  access: ImageAccessSchema,
  status: ImageStatusSchema,
  tags: z.array(z.string()),
  /** Whether a deploy gives each PC its own name. */
  identity: z.boolean(),
  sizeBytes: z.number().nonnegative().nullable(),
  minDiskBytes: z.number().nonnegative().nullable(),
  hostsAssigned: count,
  createdAt: time,
  /** When it was retired or deleted, and its access before (what bringing it back restores). */
  accessChangedAt: maybeTime.optional(),
  accessBefore: ImageAccessSchema.nullable().optional(),
  versions: z.array(ImageVersionSchema),
  /** The storage nodes up and holding the newest version. */
  nodes: z.array(z.string()),
});
export type Image = z.infer<typeof ImageSchema>;
export const ImageListSchema = z.object({ images: z.array(ImageSchema) });
/** What holds an image in use: the hosts assigned to it and the tasks not over that use it. */
export const ImageUsesSchema = z.object({
  hosts: z.array(z.object({ mac: z.string(), name: z.string().nullable() })),
  tasks: z.array(z.object({ id, kind: TaskKindSchema, state: z.string() })),
  /** Schedules that are on and would make a task of the image. */
  schedules: z.array(z.object({ id, name: z.string() })),
});
export type ImageUses = z.infer<typeof ImageUsesSchema>;
/** A check of one version's pieces as each storage node holding it serves them, against the torrent's SHA-1s. */
export const ImageVerifySchema = z.object({
  version: z.number().int().positive(),
  state: z.enum(['none', 'running', 'done']),
  startedAt: maybeTime,
  finishedAt: maybeTime,
  nodes: z.array(
    z.object({
      node: z.string(),
      state: z.enum(['waiting', 'running', 'done', 'failed']),
      total: count,
      checked: count,
      good: count,
      bad: count,
      /** The first bad pieces' indexes (at most 20). */
      badPieces: z.array(count),
      error: z.string().nullable(),
    }),
  ),
});
export type ImageVerify = z.infer<typeof ImageVerifySchema>;

export const SwarmStatsSchema = z.object({
  swarms: z.array(
    z.object({
      image: z.string().nullable(),
      version: z.number().int().nullable(),
      infoHash: z.string(),
      seeders: count,
      leechers: count,
      completed: count,
    }),
  ),
  unreachableTrackers: z.array(z.string()),
});
export type SwarmStats = z.infer<typeof SwarmStatsSchema>;

// ---- storage nodes ----

export const StorageNodeSchema = z.object({
  name: z.string(),
  httpUrl: z.string(),
  btAddr: z.string(),
  group: z.string().nullable(),
  lastSeen: time,
  up: z.boolean(),
  capacityBytes: z.number().nonnegative().nullable(),
  freeBytes: z.number().nonnegative().nullable(),
  uploadLimit: z.number().nonnegative().nullable(),
  /** What it uploads over BitTorrent now, as its last heartbeat said (bytes/s); null before one said. */
  uploadBytesPerSec: z.number().nonnegative().nullable(),
  /** "name vN" of each image it holds. */
  images: z.array(z.string()),
});
export type StorageNode = z.infer<typeof StorageNodeSchema>;
export const StorageNodeListSchema = z.object({ nodes: z.array(StorageNodeSchema) });
export const StorageGroupSchema = z.object({ name: z.string(), description: z.string().nullable(), nodes: count });
export type StorageGroup = z.infer<typeof StorageGroupSchema>;
export const StorageGroupListSchema = z.object({ groups: z.array(StorageGroupSchema) });
/** The trackers' admission list. */
export const PublishedSchema = z.object({ infoHashes: z.array(z.string()) });

// ---- tasks ----

export const TASK_STATES = ['scheduled', 'active', 'done', 'cancelled'] as const;
export const TaskStateSchema = z.enum(TASK_STATES);
export type TaskState = z.infer<typeof TaskStateSchema>;
export type TaskKind = z.infer<typeof TaskKindSchema>;

/** Hosts per state: every state, 0 when none. */
export const CountsSchema = z.record(TaskHostStateSchema, count);
export type Counts = z.infer<typeof CountsSchema>;

/**
 * A multicast task's session as its storage node last reported it: pending (no node said yet),
 * udp-sender waiting for receivers (until `deadline`, counted from the first to join), streaming,
 * or over (done, failed, stopped: the task was cancelled or every PC finished).
 */
export const MulticastViewSchema = z.object({
  node: z.string().nullable(),
  state: z.enum(['pending', 'waiting', 'streaming', 'done', 'failed', 'stopped']),
  receivers: count,
  minReceivers: count,
  maxWaitSeconds: count,
  deadline: maybeTime,
  reportedAt: maybeTime,
});
export type MulticastView = z.infer<typeof MulticastViewSchema>;

export const TaskSummarySchema = z.object({
  id,
  kind: TaskKindSchema,
  state: TaskStateSchema,
  lingerSeconds: z.number().int().nonnegative(),
  /** Its name is unknown only for a task older than the image names on tasks whose image row is gone. */
  image: z.object({ name: z.string().nullable(), version: z.number().int().nullable(), infoHash: z.string().nullable() }),
  group: z.string().nullable(),
  createdAt: maybeTime,
  scheduledAt: maybeTime,
  createdBy: z.string().nullable(),
  /** Set for multicast and for a deploy that starts together. */
  minReceivers: z.number().int().positive().nullable().optional(),
  maxWaitSeconds: z.number().int().positive().nullable().optional(),
  startedAt: maybeTime.optional(),
  /** Wake-on-LAN pace; null: the task wakes nobody. */
  wakePerSecond: z.number().positive().nullable(),
  scheduleId: id.optional(),
  /** What its PCs do once deployed. */
  finish: z.enum(['reboot', 'poweroff']),
  /** A multicast task's session. */
  multicast: MulticastViewSchema.optional(),
  counts: CountsSchema,
});
export type TaskSummary = z.infer<typeof TaskSummarySchema>;
export const TaskListSchema = z.object({
  tasks: z.array(TaskSummarySchema),
  /** How many tasks match the filter (more than `tasks` past the first page). */
  total: z.number().int(),
});

/** A PC's latest report as the dashboards show it (the client's own schema, its progress fields). */
export const TaskHostProgressSchema = ProgressSchema.pick({
  piecesDone: true,
  piecesTotal: true,
  bytesDone: true,
  bytesTotal: true,
  downloadBytesPerSec: true,
  uploadBytesPerSec: true,
  downloadedBytes: true,
  uploadedBytes: true,
  fromStorageBytes: true,
  peers: true,
  uploadId: true,
  transport: true,
  piecesByTransport: true,
});
export type TaskHostProgress = z.infer<typeof TaskHostProgressSchema>;

export const TaskHostSchema = z.object({
  mac: z.string(),
  name: z.string().nullable(),
  state: TaskHostStateSchema,
  /** Why it failed, or (queued again) why it deploys again. */
  error: z.string().nullable(),
  updatedAt: maybeTime,
  progress: TaskHostProgressSchema.nullable(),
});
export type TaskHost = z.infer<typeof TaskHostSchema>;

export const TaskSchema = TaskSummarySchema.extend({ groupDone: z.boolean(), hosts: z.array(TaskHostSchema) });
export type Task = z.infer<typeof TaskSchema>;

export const TaskHostLogSchema = z.object({ entries: z.array(z.object({ at: maybeTime, message: z.string() })) });
export type TaskHostLog = z.infer<typeof TaskHostLogSchema>;

/** One `totals` event of a task's stream: the whole swarm, about once a second. */
export const TotalsSchema = z.object({
  at: time,
  downloadBytesPerSec: z.number().nonnegative(),
  uploadBytesPerSec: z.number().nonnegative(),
  fromStorageBytesPerSec: z.number().nonnegative(),
  done: count,
  total: count,
});
export type Totals = z.infer<typeof TotalsSchema>;

/**
 * The events of a task's stream (GET /tasks/:id/events), by name: a snapshot on connect, then the
 * hosts that changed, the task's own changes, and the totals about once a second.
 */
export const TaskEventSchemas = {
  snapshot: TaskSchema,
  hosts: z.object({ hosts: z.array(TaskHostSchema) }),
  task: TaskSummarySchema,
  totals: TotalsSchema,
};
export type TaskEvents = { [E in keyof typeof TaskEventSchemas]: z.infer<(typeof TaskEventSchemas)[E]> };

// ---- the home page ----

/** GET /dashboard: what a lab team looks at first. */
export const DashboardSchema = z.object({
  /** Active and scheduled tasks, newest first, each with its hosts' overall progress (whole percent). */
  tasks: z.array(TaskSummarySchema.extend({ percent: z.number().int().min(0).max(100) })),
  /** Hosts that failed since midnight (the portal's time), newest first. */
  failedToday: z.array(z.object({ mac: z.string(), name: z.string().nullable(), taskId: id, error: z.string().nullable(), at: maybeTime })),
  /** Deploys per day over the last 30 days (the portal's days, oldest first): hosts done and failed. */
  days: z.array(z.object({ day: z.string(), done: count, failed: count })),
});
export type Dashboard = z.infer<typeof DashboardSchema>;

// ---- schedules ----

export const ScheduleSchema = z.object({
  id,
  name: z.string(),
  cron: z.string(),
  timezone: z.string().nullable(),
  enabled: z.boolean(),
  /** The task each run makes, as it was given (defaults filled in). */
  task: CreateTaskSchema,
  nextRunAt: maybeTime,
  lastRunAt: maybeTime,
  lastTaskId: id.nullable(),
  lastError: z.string().nullable(),
  createdBy: z.string(),
  createdAt: maybeTime,
});
export type Schedule = z.infer<typeof ScheduleSchema>;
export const ScheduleListSchema = z.object({ schedules: z.array(ScheduleSchema) });
/** Run now: the schedule, and the task the run made. */
export const ScheduleRunSchema = ScheduleSchema.extend({ taskId: id });

// ---- meta ----

export const OpenApiSchema = z.looseObject({ openapi: z.string(), paths: z.record(z.string(), z.unknown()) });
