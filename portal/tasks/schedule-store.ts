/**
 * Every query on recurring schedules, in one place: schedules.ts says when a schedule runs and what
 * it makes, this module how it is kept. Each function takes the database or a transaction, so the
 * caller decides what must change together.
 */
import type { Knex } from 'knex';
import { notFound } from '../../shared/http/errors.js';
import { insertedId, type Db } from '../db/open.js';
import type { ScheduleRow } from '../db/tables.js';

type Q = Db | Knex.Transaction;

/** What a new schedule is given; its runs fill in the rest. */
export type NewScheduleRow = Omit<ScheduleRow, 'id' | 'last_run_ms' | 'last_task_id' | 'last_error'>;

export async function scheduleById(db: Q, id: number): Promise<ScheduleRow> {
  const row = await db('schedules').where({ id }).first();
  if (!row) throw notFound(`schedule ${id}`);
  return row;
}

export const scheduleByName = (db: Q, name: string): Promise<ScheduleRow | undefined> => db('schedules').where({ name }).first();

/** Every schedule, by name. */
export const listSchedules = (db: Q): Promise<ScheduleRow[]> => db('schedules').orderBy('name');

/** The schedules turned on whose next run is due by `now`. */
export const dueSchedules = (db: Q, now: number): Promise<ScheduleRow[]> => db('schedules').where('enabled', true).andWhere('next_run_ms', '<=', now);

export async function insertSchedule(tx: Q, row: NewScheduleRow): Promise<number> {
  return insertedId((await tx('schedules').insert(row).returning('id'))[0]);
}

export async function updateSchedule(db: Q, id: number, change: Partial<ScheduleRow>): Promise<void> {
  await db('schedules').where({ id }).update(change);
}

/**
 * Moves a schedule's next run from `from` to `next`; false when another portal on the same
 * database moved it first (then that one makes the run).
 */
export const claimRun = async (db: Q, id: number, from: number | null, next: number): Promise<boolean> =>
  (await db('schedules').where({ id, next_run_ms: from }).update({ next_run_ms: next })) > 0;

export async function deleteSchedule(db: Q, id: number): Promise<void> {
  await db('schedules').where({ id }).delete();
}
