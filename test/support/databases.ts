// Real databases for tests: PGlite in memory, or a fresh database on the local PostgreSQL
// (127.0.0.1:5432, trust auth; POSTGRES_TEST_URL overrides), dropped afterwards.
import { randomBytes } from 'node:crypto';
import { Client } from 'pg';
import { migrate } from '../../src/db/migrate';
import { PgClient } from '../../src/db/pg-client';
import { PgliteClient } from '../../src/db/pglite-client';
import type { SqlClient } from '../../src/db/sql';

export type Engine = 'pglite' | 'postgres';
export const ENGINES: Engine[] = ['pglite', 'postgres'];

const ADMIN_URL = process.env.POSTGRES_TEST_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

export interface TestDatabase {
  db: SqlClient;
  url?: string;
  drop(): Promise<void>;
}

export async function testDatabase(engine: Engine): Promise<TestDatabase> {
  if (engine === 'pglite') {
    const db = await PgliteClient.open();
    await migrate(db);
    return { db, drop: () => db.close() };
  }
  const name = `aao_test_${randomBytes(6).toString('hex')}`;
  const admin = new Client({ connectionString: ADMIN_URL });
  await admin.connect();
  await admin.query(`create database ${name}`);
  await admin.end();
  const url = ADMIN_URL.replace(/\/[^/]*$/, `/${name}`);
  const db = PgClient.open(url);
  await migrate(db);
  return {
    db,
    url,
    async drop() {
      await db.close();
      const a = new Client({ connectionString: ADMIN_URL });
      await a.connect();
      await a.query(`drop database if exists ${name} with (force)`);
      await a.end();
    },
  };
}
