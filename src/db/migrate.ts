// Applies the migrations in order, once each, the same on PGlite and PostgreSQL.
// An advisory lock makes concurrent starts (several replicas) wait instead of racing.
import { MIGRATIONS } from './migrations';
import type { SqlClient } from './sql';

const MIGRATION_LOCK = 7_324_118;

export async function migrate(db: SqlClient): Promise<string[]> {
  await db.query(`create table if not exists schema_migrations (
    id text primary key, applied_at timestamptz not null default now())`);
  const applied: string[] = [];
  for (const m of MIGRATIONS) {
    await db.transaction(async (tx) => {
      await tx.query('select pg_advisory_xact_lock($1)', [MIGRATION_LOCK]);
      const done = await tx.query('select 1 from schema_migrations where id = $1', [m.id]);
      if (done.length) return;
      await tx.exec(m.sql);
      await tx.query('insert into schema_migrations (id) values ($1)', [m.id]);
      applied.push(m.id);
    });
  }
  return applied;
}
