/**
 * Recurring schedules: a task made again and again at the times a cron expression names (a nightly
 * re-image of a room, a weekly one before exams). Each run makes an ordinary task from the
 * schedule's template (the image's newest version unless it names one), so the dashboards, logs
 * and retries are the tasks' own. A run whose PCs are still busy in the last one is skipped and
 * says so; a run the portal missed by more than an hour (it was down) is skipped, not made up
 * for in the middle of the day.
 */
import { CronExpressionParser } from 'cron-parser';
import { z } from 'zod';
import { API, CreateTaskSchema } from '../../shared/http/api.js';
import { errorMessage } from '../../shared/errors.js';
import { HttpError } from '../../shared/http/errors.js';
import { logger } from '../../shared/log.js';
import type { ApiRouter } from '../http/api-router.js';
import { ScheduleListSchema, ScheduleRunSchema, ScheduleSchema } from '../../shared/http/portal-contract.js';
import { audit, changes } from '../db/audit.js';
import type { TaskDeps } from './task-deps.js';
import { createTask } from './create-task.js';
import { wakeTask } from './task-start.js';
import type { ScheduleRow } from '../db/tables.js';
import { iso } from '../db/times.js';
import { claimRun, deleteSchedule, dueSchedules, insertSchedule, listSchedules, scheduleById, scheduleByName, updateSchedule } from './schedule-store.js';

const log = logger('schedules');
/** A run later than this after its time is skipped (the portal was down): no re-image at noon. */
export const MISSED_RUN_GRACE_MS = 3_600_000;

const timezone = z
  .string()
  .max(64)
  .refine((tz) => Intl.supportedValuesOf('timeZone').includes(tz) || tz === 'UTC', 'an IANA time zone such as Europe/Berlin');
const NewSchedule = z
  .object({
    name: z
      .string()
      .trim()
      .regex(/^[A-Za-z0-9][A-Za-z0-9 ._-]{0,63}$/, 'letters, digits, space and . _ - (at most 64)'),
    /** Five fields: minute hour day-of-month month day-of-week ("30 2 * * 1-5": 02:30 on weekdays); six with seconds first. */
    cron: z.string().trim().max(100),
    /** The cron's time zone (default: the portal's). */
    timezone: timezone.optional(),
    enabled: z.boolean().default(true),
    task: CreateTaskSchema,
  })
  .strict();
const ChangeSchedule = z
  .object({
    cron: z.string().trim().max(100).optional(),
    timezone: timezone.nullable().optional(),
    enabled: z.boolean().optional(),
    task: CreateTaskSchema.optional(),
  })
  .strict();

interface StoredTask {
  timezone?: string;
  task: z.input<typeof CreateTaskSchema>;
}

/** Whether a run due at `due` and not made by `now` was missed (the portal was down), not just late by a check's interval. */
export const missed = (due: number, now: number): boolean => now - due > MISSED_RUN_GRACE_MS;

/** The next time a cron expression names after `after`; a clear error for one that names none. */
export function nextRun(cron: string, after: number, tz?: string): number {
  const fields = cron.split(/\s+/).length;
  if (fields !== 5 && fields !== 6)
    throw new HttpError(400, `cron "${cron}": give five fields (minute hour day-of-month month day-of-week), as "30 2 * * 1-5", or six with seconds first`);
  try {
    return CronExpressionParser.parse(cron, { currentDate: new Date(after), ...(tz && { tz }) })
      .next()
      .getTime();
  } catch (err) {
    throw new HttpError(400, `cron "${cron}": ${errorMessage(err)}`);
  }
}

function view(r: ScheduleRow) {
  const stored = JSON.parse(r.task) as StoredTask;
  return {
    id: r.id,
    name: r.name,
    cron: r.cron,
    timezone: stored.timezone ?? null,
    enabled: Boolean(r.enabled),
    task: stored.task,
    nextRunAt: r.enabled ? iso(r.next_run_ms) : null,
    lastRunAt: iso(r.last_run_ms),
    lastTaskId: r.last_task_id,
    lastError: r.last_error,
    createdBy: r.created_by,
    createdAt: iso(r.created_ms),
  };
}

function checkTemplate(task: z.infer<typeof CreateTaskSchema>): void {
  if (task.scheduledAt) throw new HttpError(400, "a schedule's task has no scheduledAt: the cron expression says when");
}

/** Makes the schedule's task now; records the outcome on the schedule. */
async function run(deps: TaskDeps, s: ScheduleRow, why: string): Promise<{ taskId?: number; error?: string }> {
  const stored = JSON.parse(s.task) as StoredTask;
  try {
    const taskId = await createTask(deps, CreateTaskSchema.parse(stored.task), { name: s.created_by, role: 'admin' }, s.id);
    await updateSchedule(deps.db, s.id, { last_run_ms: Date.now(), last_task_id: taskId, last_error: null });
    await audit(deps.db, `schedule:${s.name}`, 'schedule.run', `task ${taskId}`, { schedule: s.id, why });
    await wakeTask(deps, taskId);
    deps.live.taskChanged(taskId);
    log.info({ schedule: s.name, taskId, why }, 'schedule ran');
    return { taskId };
  } catch (err) {
    const error = `${why}: ${errorMessage(err)}`.slice(0, 2000);
    await updateSchedule(deps.db, s.id, { last_run_ms: Date.now(), last_error: error });
    log.warn({ schedule: s.name, error }, 'schedule run made no task');
    return { error };
  }
}

/** Runs the schedules whose time has come; each run moves the schedule to its next time first, so no run is made twice. */
export async function runDueSchedules(deps: TaskDeps): Promise<void> {
  const now = Date.now();
  const due = await dueSchedules(deps.db, now);
  for (const s of due) {
    const stored = JSON.parse(s.task) as StoredTask;
    const next = nextRun(s.cron, now, stored.timezone);
    // The claim: only the portal that moves next_run_ms on runs it (two portals on one database).
    if (!(await claimRun(deps.db, s.id, s.next_run_ms, next))) continue;
    if (missed(Number(s.next_run_ms), now)) {
      await updateSchedule(deps.db, s.id, {
        last_error: `the run of ${iso(s.next_run_ms)} was missed (the portal was not running) and skipped; next at ${iso(next)}`,
      });
      continue;
    }
    await run(deps, s, `run of ${iso(s.next_run_ms)}`);
  }
}

export function scheduleRoutes(api: ApiRouter, deps: TaskDeps): void {
  const { db } = deps;

  api.add(
    {
      method: 'get',
      path: `${API}/schedules`,
      summary: 'Recurring schedules, with their next and last runs',
      tag: 'tasks',
      access: 'read',
      response: ScheduleListSchema,
    },
    async () => ({
      schedules: (await listSchedules(db)).map(view),
    }),
  );

  api.add(
    {
      method: 'post',
      path: `${API}/schedules`,
      summary: 'Add a recurring schedule: a task made at the times a cron expression names',
      tag: 'tasks',
      access: 'images',
      body: NewSchedule,
      status: 201,
      response: ScheduleSchema,
    },
    async (_ctx, { body, caller }) => {
      checkTemplate(body.task);
      const next = nextRun(body.cron, Date.now(), body.timezone);
      const id = await db.transaction(async (tx) => {
        if (await scheduleByName(tx, body.name)) throw new HttpError(409, `schedule ${body.name} exists`);
        const task: StoredTask = { ...(body.timezone && { timezone: body.timezone }), task: body.task };
        const newId = await insertSchedule(tx, {
          name: body.name,
          cron: body.cron,
          task: JSON.stringify(task),
          enabled: body.enabled,
          next_run_ms: next,
          created_by: caller.name,
          created_ms: Date.now(),
        });
        await audit(tx, caller.name, 'schedule.create', body.name, { cron: body.cron, timezone: body.timezone, task: body.task });
        return newId;
      });
      return view(await scheduleById(db, id));
    },
  );

  api.add(
    {
      method: 'patch',
      path: `${API}/schedules/:id`,
      summary: "Change a schedule's times, template, or turn it on or off",
      tag: 'tasks',
      access: 'images',
      body: ChangeSchedule,
      response: ScheduleSchema,
    },
    async (_ctx, { params, body, caller }) => {
      const id = Number(params.id);
      const row = await scheduleById(db, id);
      const stored = JSON.parse(row.task) as StoredTask;
      if (body.task) checkTemplate(body.task);
      const tz = body.timezone === undefined ? stored.timezone : (body.timezone ?? undefined);
      const cron = body.cron ?? row.cron;
      const task: StoredTask = { ...(tz && { timezone: tz }), task: body.task ?? stored.task };
      await updateSchedule(db, id, {
        cron,
        task: JSON.stringify(task),
        next_run_ms: nextRun(cron, Date.now(), tz),
        ...(body.enabled !== undefined && { enabled: body.enabled }),
      });
      const was = { cron: row.cron, timezone: stored.timezone ?? null, enabled: Boolean(row.enabled), task: stored.task };
      await audit(db, caller.name, 'schedule.update', row.name, changes(was, body));
      return view(await scheduleById(db, id));
    },
  );

  api.add(
    { method: 'delete', path: `${API}/schedules/:id`, summary: 'Remove a schedule (its tasks stay)', tag: 'tasks', access: 'images', response: 'empty' },
    async (_ctx, { params, caller }) => {
      const row = await scheduleById(db, Number(params.id));
      await deleteSchedule(db, row.id);
      await audit(db, caller.name, 'schedule.delete', row.name);
    },
  );

  api.add(
    {
      method: 'post',
      path: `${API}/schedules/:id/run`,
      summary: 'Run a schedule now (its next run stays as it was)',
      tag: 'tasks',
      access: 'images',
      response: ScheduleRunSchema,
    },
    async (_ctx, { params, caller }) => {
      const row = await scheduleById(db, Number(params.id));
      const r = await run(deps, row, `run now by ${caller.name}`);
      if (r.taskId === undefined) throw new HttpError(409, r.error ?? `schedule ${row.id} made no task`);
      return { ...view(await scheduleById(db, row.id)), taskId: r.taskId };
    },
  );
}
