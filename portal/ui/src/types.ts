// The shapes of the portal API as the UI reads them: the portal's own contract
// (shared/http/portal-contract.ts), which the portal checks its answers against. Type-only
// imports, erased at build: no zod in the UI's bundle. The lists the UI shows as choices are
// spelled out here, and the compiler holds each to the contract's enum (every value, no other).

import type { ImageAccess, ImageType, Role, SessionUser, TaskHostState, TaskState, User } from '../../../shared/http/portal-contract';

export type {
  AuditEntry,
  Counts,
  Group,
  Host,
  Image,
  ImageType,
  ImageVersion,
  Inventory,
  Role,
  Schedule,
  StorageGroup,
  StorageNode,
  Task,
  TaskHost,
  TaskHostProgress as Progress,
  TaskKind,
  TaskEvents,
  TaskState,
  TaskSummary,
  Token,
  Totals,
} from '../../../shared/http/portal-contract';

/** Who is logged in (GET /session). */
export type { SessionUser as User };
/** A user as the admin's list shows them. */
export type UserRow = User;
/** A host's state in a task. */
export type HostState = TaskHostState;
export type Access = ImageAccess;

/** Every value of a union, each once, in the order given: the compiler refuses one missing or unknown. */
const every =
  <T extends string>() =>
  <const L extends readonly T[]>(list: L & ([T] extends [L[number]] ? unknown : never)): T[] => [...list];

export const ROLES: Role[] = every<Role>()(['admin', 'image-admin', 'readonly']);
/** In the order a deploy goes through them. */
export const HOST_STATES: HostState[] = every<HostState>()(['queued', 'booting', 'waiting', 'running', 'seeding', 'done', 'failed', 'cancelled']);
export const IMAGE_TYPES: ImageType[] = every<ImageType>()(['resizable', 'multipart', 'alldisks', 'raw']);
/** In the order the task list offers them. */
export const TASK_STATES: TaskState[] = every<TaskState>()(['active', 'scheduled', 'done', 'cancelled']);
