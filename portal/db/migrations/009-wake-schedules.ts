/** Migration 009-wake-schedules: Wake-on-LAN when a task starts (null: no wake), and recurring schedules that make tasks. */
import type { Knex } from 'knex';
import type { Migration } from './migration.js';

export default {
  async up(k: Knex) {
    await k.schema.alterTable('tasks', (t) => {
      t.float('wake_per_second');
      t.integer('schedule_id');
    });
    await k.schema.createTable('schedules', (t) => {
      t.increments('id');
      t.string('name').notNullable().unique();
      t.string('cron').notNullable();
      t.text('task').notNullable();
      t.boolean('enabled').notNullable().defaultTo(true);
      t.bigInteger('next_run_ms');
      t.bigInteger('last_run_ms');
      t.integer('last_task_id');
      t.text('last_error');
      t.string('created_by').notNullable();
      t.bigInteger('created_ms').notNullable();
    });
  },
  async down(k: Knex) {
    await k.schema.dropTableIfExists('schedules');
    await k.schema.alterTable('tasks', (t) => {
      t.dropColumn('wake_per_second');
      t.dropColumn('schedule_id');
    });
  },
} satisfies Migration;
