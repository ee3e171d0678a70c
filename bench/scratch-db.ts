// A migrated database for a bench that needs no orchestrator: PGlite (in memory, or on disk as
// `npm start` keeps it), or a scratch database on a PostgreSQL server, dropped afterwards.
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Client } from 'pg';
import { migrate } from '../src/db/migrate';
import { PgClient } from '../src/db/pg-client';
import { PgliteClient } from '../src/db/pglite-client';
import type { SqlClient } from '../src/db/sql';

export type ScratchDatabase = { engine: 'pglite'; onDisk?: boolean } | { engine: 'postgres'; adminUrl: string; poolSize?: number };

export async function withScratchDatabase(spec: ScratchDatabase, run: (db: SqlClient) => Promise<void>): Promise<void> {
  if (spec.engine === 'pglite') {
    const dir = spec.onDisk ? fs.mkdtempSync(path.join(os.tmpdir(), 'aao-bench-db-')) : undefined;
    const db = await PgliteClient.open(dir);
    try {
      await migrate(db);
      await run(db);
    } finally {
      await db.close();
      if (dir) fs.rmSync(dir, { recursive: true, force: true });
    }
    return;
  }
  const name = `aao_bench_${randomBytes(4).toString('hex')}`;
  const admin = new Client({ connectionString: spec.adminUrl });
  await admin.connect();
  await admin.query(`create database ${name}`);
  const url = new URL(spec.adminUrl);
  url.pathname = `/${name}`;
  const db = PgClient.open(url.toString(), spec.poolSize);
  try {
    await migrate(db);
    await run(db);
  } finally {
    await db.close();
    await admin.query(`drop database if exists ${name} with (force)`);
    await admin.end();
  }
}
