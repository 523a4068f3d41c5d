// The shapes of the portal API (notes/portal-api-contract.md), as the UI reads them.

export type Role = 'admin' | 'image-admin' | 'readonly';
export const ROLES: Role[] = ['admin', 'image-admin', 'readonly'];

export interface User {
  name: string;
  role: Role;
}

export interface UserRow extends User {
  createdAt: string;
}

export interface Token {
  id: string | number;
  user: string;
  label: string;
  createdAt: string;
  lastUsedAt: string | null;
  expiresAt: string | null;
}

export interface AuditEntry {
  id: string | number;
  at: string;
  actor: string;
  action: string;
  target: string;
  detail: unknown;
}

export interface Group {
  name: string;
  description: string | null;
  hosts: number;
}

/** A host's state in a task, in the order a deploy goes through them. */
export type HostState = 'queued' | 'booting' | 'waiting' | 'running' | 'seeding' | 'done' | 'failed' | 'cancelled';
export const HOST_STATES: HostState[] = ['queued', 'booting', 'waiting', 'running', 'seeding', 'done', 'failed', 'cancelled'];

export interface Inventory {
  cpu?: string;
  memoryBytes?: number;
  disks?: { name: string; sizeBytes: number; model?: string }[];
  nics?: { name: string; mac: string }[];
  firmware?: 'bios' | 'uefi';
}

export interface Host {
  mac: string;
  name: string | null;
  disk: string | null;
  group: string | null;
  image: string | null;
  ip: string | null;
  lastSeen: string | null;
  createdAt: string;
  inventory: Inventory | null;
  task: { id: number; kind: TaskKind; state: HostState } | null;
  /** Registered itself and waits for an admin's approval. */
  pending: boolean;
}

export type ImageType = 'resizable' | 'multipart' | 'alldisks' | 'raw';
export const IMAGE_TYPES: ImageType[] = ['resizable', 'multipart', 'alldisks', 'raw'];
export type Access = 'public' | 'private' | 'deleted';

export interface ImageVersion {
  version: number;
  infoHash: string;
  sizeBytes: number;
  minDiskBytes: number;
  createdAt: string;
  nodes: string[];
  /** Captured by a PC, not yet let through: deploys do not pick it unless named. */
  awaitingReview: boolean;
}

export interface Image {
  name: string;
  alias: string | null;
  description: string | null;
  osType: string | null;
  imageType: ImageType;
  owner: string | null;
  access: Access;
  status: 'pending' | 'ok' | 'failed';
  tags: string[];
  sizeBytes: number | null;
  minDiskBytes: number | null;
  hostsAssigned: number;
  versions: ImageVersion[];
}

export interface StorageGroup {
  name: string;
  description: string | null;
  nodes: number;
}

export interface StorageNode {
  name: string;
  httpUrl: string;
  btAddr: string;
  group: string | null;
  up: boolean;
  lastSeen: string | null;
  capacityBytes: number | null;
  freeBytes: number | null;
  uploadLimit: number | null;
  images: string[];
}

export type TaskKind = 'deploy' | 'capture' | 'multicast';
export type TaskState = 'scheduled' | 'active' | 'done' | 'cancelled';
export const TASK_STATES: TaskState[] = ['active', 'scheduled', 'done', 'cancelled'];

export type Counts = Record<HostState, number>;

export interface Schedule {
  id: number;
  name: string;
  cron: string;
  timezone: string | null;
  enabled: boolean;
  task: { kind: TaskKind; image: string; group?: string; hosts?: string[] };
  nextRunAt: string | null;
  lastRunAt: string | null;
  lastTaskId: number | null;
  lastError: string | null;
}

export interface TaskSummary {
  id: number;
  kind: TaskKind;
  state: TaskState;
  image: { name: string; version: number | null };
  group: string | null;
  createdAt: string;
  scheduledAt: string | null;
  createdBy: string | null;
  counts: Counts;
}

export interface Progress {
  piecesDone: number;
  piecesTotal: number;
  bytesDone: number;
  bytesTotal: number;
  downloadBytesPerSec: number;
  uploadBytesPerSec: number;
  downloadedBytes: number;
  uploadedBytes: number;
  fromStorageBytes: number;
  peers: number;
  /** The transport fetching now, and the pieces each transport wrote. */
  transport?: 'swarm' | 'unicast' | 'multicast';
  piecesByTransport?: Partial<Record<'swarm' | 'unicast' | 'multicast', number>>;
}

export interface TaskHost {
  mac: string;
  name: string | null;
  state: HostState;
  error: string | null;
  updatedAt: string | null;
  progress: Progress | null;
}

export interface Task extends TaskSummary {
  groupDone: boolean;
  hosts: TaskHost[];
}

/** One `totals` event: the whole swarm, about once a second while the task is active. */
export interface Totals {
  at: string;
  downloadBytesPerSec: number;
  uploadBytesPerSec: number;
  fromStorageBytesPerSec: number;
  done: number;
  total: number;
}
