// SqlClient over PGlite: the embedded default (a directory under .data/, or in memory for tests).
import { PGlite } from '@electric-sql/pglite';
import type { Listener, SqlClient } from './sql';

type Queryable = Pick<PGlite, 'query' | 'exec'>;

class PgliteTx implements SqlClient {
  readonly engine = 'pglite' as const;
  constructor(private readonly db: Queryable) {}
  async query<T>(text: string, params: unknown[] = []): Promise<T[]> {
    return (await this.db.query<T>(text, params)).rows;
  }
  simpleQuery<T>(text: string): Promise<T[]> {
    return simpleQuery<T>(this.db, text);
  }
  async exec(script: string): Promise<void> {
    await this.db.exec(script);
  }
  transaction<T>(fn: (tx: SqlClient) => Promise<T>): Promise<T> {
    return fn(this); // already inside one; PGlite has a single connection
  }
  listen(): Promise<() => Promise<void>> {
    throw new Error('listen inside a transaction');
  }
  async close(): Promise<void> {}
}

/**
 * WAL written since the last checkpoint that makes the next one due (one WAL segment): a
 * checkpoint then takes ~20 ms here, once per ~7,500 decisions. See `checkpointIfDue`.
 */
export const CHECKPOINT_EVERY_BYTES = 16 * 2 ** 20;
const CHECKPOINT_CHECK_MS = 1000;

export class PgliteClient implements SqlClient {
  readonly engine = 'pglite' as const;
  private readonly checkpointing: NodeJS.Timeout;

  private constructor(readonly db: PGlite) {
    this.checkpointing = setInterval(() => void this.checkpointIfDue().catch(() => undefined), CHECKPOINT_CHECK_MS).unref();
  }

  /** `dataDir` undefined → in memory. */
  static async open(dataDir?: string): Promise<PgliteClient> {
    const db = dataDir ? await PGlite.create(dataDir) : await PGlite.create();
    return new PgliteClient(db);
  }

  /**
   * PGlite is PostgreSQL in single-user mode, where nothing ever checkpoints on its own (only a
   * postmaster's checkpointer does): the WAL would grow for as long as the process runs (~2.2 kB
   * per decision, never recycled; on disk, or in memory) and a restart after a crash would replay
   * all of it. So the client checkpoints itself once `CHECKPOINT_EVERY_BYTES` of WAL has
   * accumulated, checked every second. A checkpoint blocks this thread for as long as it writes
   * (~20 ms for one segment, measured; ~330 ms for 256 MB), hence small and often.
   */
  private async checkpointIfDue(): Promise<void> {
    if (this.db.closed) return;
    const [{ bytes }] = await this.query<{ bytes: string }>(
      'select (pg_current_wal_insert_lsn() - (select redo_lsn from pg_control_checkpoint()))::bigint as bytes',
    );
    if (Number(bytes) >= CHECKPOINT_EVERY_BYTES) await this.db.exec('checkpoint');
  }

  async query<T>(text: string, params: unknown[] = []): Promise<T[]> {
    return (await this.db.query<T>(text, params)).rows;
  }

  simpleQuery<T>(text: string): Promise<T[]> {
    return simpleQuery<T>(this.db, text);
  }

  async exec(script: string): Promise<void> {
    await this.db.exec(script);
  }

  transaction<T>(fn: (tx: SqlClient) => Promise<T>): Promise<T> {
    return this.db.transaction((tx) => fn(new PgliteTx(tx)));
  }

  /** One process, one connection: notifications arrive with the commit itself, and are never lost. */
  async listen(channel: string, handler: Listener): Promise<() => Promise<void>> {
    return this.db.listen(channel, (payload) => handler.payload(payload));
  }

  async close(): Promise<void> {
    clearInterval(this.checkpointing);
    if (!this.db.closed) await this.db.close();
  }
}

async function simpleQuery<T>(db: Queryable, text: string): Promise<T[]> {
  const results = await db.exec(text);
  return (results[results.length - 1]?.rows ?? []) as T[];
}
