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
 * WAL written since the last checkpoint that makes the next upkeep due (one WAL segment, ~7,500
 * decisions): a freeze, then a checkpoint a second later. See `upkeep`.
 */
export const CHECKPOINT_EVERY_BYTES = 16 * 2 ** 20;
const UPKEEP_CHECK_MS = 1000;

/** One step of the client's upkeep and how long it held the database (and this thread). */
export interface UpkeepStep {
  step: 'freeze' | 'checkpoint';
  seconds: number;
}

export class PgliteClient implements SqlClient {
  readonly engine = 'pglite' as const;
  private readonly upkeeping: NodeJS.Timeout;
  private checkpointNext = false;
  private readonly upkeepListeners = new Set<(u: UpkeepStep) => void>();

  private constructor(readonly db: PGlite) {
    this.upkeeping = setInterval(() => void this.upkeep().catch(() => undefined), UPKEEP_CHECK_MS).unref();
  }

  /** `dataDir` undefined → in memory. */
  static async open(dataDir?: string): Promise<PgliteClient> {
    const db = dataDir ? await PGlite.create(dataDir) : await PGlite.create();
    return new PgliteClient(db);
  }

  /**
   * PGlite is PostgreSQL in single-user mode, where no background process does a server's upkeep,
   * so the client does it:
   * * checkpoints: none ever happens otherwise, so the WAL grows for as long as the process runs
   *   (~2.2 kB per decision, never recycled; on disk, or in memory) and a restart after a crash
   *   replays all of it;
   * * freezing (autovacuum's job): without it every commit ages the database by one transaction
   *   id until, some 2 billion later (80 days at 300 commits a second), PostgreSQL stops
   *   accepting writes to avoid wraparound. `VACUUM (FREEZE)` visits only the pages written since
   *   the last one (the visibility map skips the rest), so done per segment it costs the same each
   *   time however large the trace grows.
   * Both block this thread while they run (measured per segment: freeze 35-75 ms, checkpoint
   * 20-30 ms; 256 MB at once: a 330 ms checkpoint), hence small, often, and a second apart.
   */
  private async upkeep(): Promise<void> {
    if (this.db.closed) return;
    if (this.checkpointNext) {
      this.checkpointNext = false;
      await this.timed('checkpoint', 'checkpoint');
      return;
    }
    const [{ bytes }] = await this.query<{ bytes: string }>(
      'select (pg_current_wal_insert_lsn() - (select redo_lsn from pg_control_checkpoint()))::bigint as bytes',
    );
    if (Number(bytes) < CHECKPOINT_EVERY_BYTES) return;
    try {
      await this.timed('freeze', 'vacuum (freeze)');
    } finally {
      this.checkpointNext = true; // a freeze that failed (the xid age metric shows it) must not hold back the checkpoint
    }
  }

  /** Calls `listener` after each upkeep step (the metrics); returns the unsubscribe. */
  onUpkeep(listener: (u: UpkeepStep) => void): () => void {
    this.upkeepListeners.add(listener);
    return () => void this.upkeepListeners.delete(listener);
  }

  private async timed(step: UpkeepStep['step'], sql: string): Promise<void> {
    const started = performance.now();
    await this.db.exec(sql);
    const done: UpkeepStep = { step, seconds: (performance.now() - started) / 1000 };
    for (const listener of this.upkeepListeners) listener(done);
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
    clearInterval(this.upkeeping);
    if (!this.db.closed) await this.db.close();
  }
}

async function simpleQuery<T>(db: Queryable, text: string): Promise<T[]> {
  const results = await db.exec(text);
  return (results[results.length - 1]?.rows ?? []) as T[];
}
