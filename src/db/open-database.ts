import path from 'node:path';
import { migrate } from './migrate';
import { PgClient } from './pg-client';
import { PgliteClient } from './pglite-client';
import type { SqlClient } from './sql';

/** PostgreSQL when a URL is given, else PGlite under `<dataDir>/pglite` (or in memory when dataDir is undefined). Migrated. */
export async function openDatabase(opts: { databaseUrl?: string; dataDir?: string }): Promise<SqlClient> {
  const db = opts.databaseUrl
    ? PgClient.open(opts.databaseUrl)
    : await PgliteClient.open(opts.dataDir ? path.join(opts.dataDir, 'pglite') : undefined);
  try {
    await migrate(db);
  } catch (err) {
    await db.close();
    throw err;
  }
  return db;
}
