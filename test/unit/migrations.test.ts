/**
 * The portal's schema steps go both ways: every migration's `down` takes back what its `up` made,
 * so an admin can roll a bad upgrade back, and `up` again rebuilds the same schema. On SQLite in
 * memory (the root tests run the same migrations on PostgreSQL).
 */
import { test } from '../suite.js';
import * as assert from 'uvu/assert';
import { migrationSource, openDb } from '../../portal/db/open.js';
import { MIGRATIONS } from '../../portal/db/migrations/index.js';

test('every migration rolls back, and up again gives the same schema', async () => {
  const db = await openDb(':memory:');
  try {
    const schema = async (): Promise<string> =>
      JSON.stringify(
        await db.raw<Array<{ name: string; sql: string }>>(
          "select name, sql from sqlite_master where name not like 'knex%' and name not like 'sqlite%' order by name",
        ),
      );
    const built = await schema();
    assert.ok(built.includes('"task_hosts"') && built.includes('proven_ms'), 'the latest schema has the last migration');
    const [, undone] = (await db.migrate.rollback({ migrationSource }, true)) as [number, string[]];
    assert.is(undone.length, Object.keys(MIGRATIONS).length, 'every migration was rolled back');
    assert.is(await schema(), '[]', 'nothing of the schema is left');
    await db.migrate.latest({ migrationSource });
    assert.is(await schema(), built);
  } finally {
    await db.destroy();
  }
});

test.run();
