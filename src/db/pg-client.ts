// SqlClient over node-postgres: production PostgreSQL via DATABASE_URL.
import { Client, Pool, type PoolClient, type QueryResult } from 'pg';
import type { Listener, SqlClient, StatementOptions } from './sql';

/**
 * One transaction on one pooled connection. BEGIN is not a round trip of its own when the first
 * statement is a simple query (it goes in front of it), nor COMMIT when the last one says so: the
 * trace's group commit (one simple query) takes one round trip instead of three.
 */
class PgTx implements SqlClient {
  readonly engine = 'postgres' as const;
  private begun = false;
  /** A `last` statement committed the transaction. */
  private committed = false;
  constructor(private readonly client: PoolClient) {}
  async query<T>(text: string, params: unknown[] = []): Promise<T[]> {
    await this.begin();
    return (await this.client.query(text, params)).rows as T[];
  }
  async simpleQuery<T>(text: string, opts: StatementOptions = {}): Promise<T[]> {
    this.assertOpen();
    const begin = !this.begun;
    this.begun = true;
    // No values: node-postgres sends a simple query, which may hold several statements.
    const answer = await this.client.query(`${begin ? 'begin; ' : ''}${text}${opts.last ? '; commit' : ''}`);
    if (opts.last) this.committed = true;
    return lastRows<T>(answer, opts.last ? 1 : 0);
  }
  async exec(script: string): Promise<void> {
    await this.begin();
    await this.client.query(script);
  }
  transaction<T>(fn: (tx: SqlClient) => Promise<T>): Promise<T> {
    return fn(this);
  }
  listen(): Promise<() => Promise<void>> {
    throw new Error('listen inside a transaction');
  }
  async close(): Promise<void> {}

  /** Commits, unless a `last` statement did or no statement ran. */
  async commit(): Promise<void> {
    if (this.begun && !this.committed) await this.client.query('COMMIT');
  }

  async rollback(): Promise<void> {
    if (this.begun && !this.committed) await this.client.query('ROLLBACK');
  }

  private async begin(): Promise<void> {
    this.assertOpen();
    if (this.begun) return;
    this.begun = true;
    await this.client.query('BEGIN');
  }

  private assertOpen(): void {
    if (this.committed) throw new Error('The transaction was committed by its last statement.');
  }
}

export class PgClient implements SqlClient {
  readonly engine = 'postgres' as const;
  constructor(
    private readonly pool: Pool,
    private readonly url: string,
  ) {}

  static open(url: string, max = 10): PgClient {
    const pool = new Pool({ connectionString: url, max });
    // An idle client's error (server restart) must not crash the process; the next query reconnects.
    pool.on('error', () => undefined);
    return new PgClient(pool, url);
  }

  /**
   * LISTEN on a connection of its own (a pooled one would hand the session to other queries). When
   * it drops, notifications sent meanwhile are lost: `live(false)` says so, and it reconnects with
   * backoff, then `live(true)`.
   */
  async listen(channel: string, handler: Listener): Promise<() => Promise<void>> {
    let stopped = false;
    let client: Client | undefined;
    let retry: NodeJS.Timeout | undefined;
    const connect = async (delayMs: number): Promise<void> => {
      const c = new Client({ connectionString: this.url });
      c.on('notification', (m) => {
        if (m.channel === channel) handler.payload(m.payload ?? '');
      });
      const lost = () => {
        if (stopped || client !== c) return;
        client = undefined;
        handler.live(false);
        retry = setTimeout(() => void connect(Math.min(delayMs * 2, 5000)).catch(() => undefined), delayMs);
        retry.unref();
      };
      c.on('error', lost);
      c.on('end', lost);
      client = c;
      try {
        await c.connect();
        await c.query(`LISTEN ${quoteIdent(channel)}`);
        if (stopped) await c.end(); // stopped while this reconnect was under way
        else if (!initial) handler.live(true);
      } catch (err) {
        if (initial) stopped = true; // the caller learns now; nothing keeps retrying behind it
        lost();
        await c.end().catch(() => undefined);
        throw err;
      }
    };
    let initial = true;
    await connect(100);
    initial = false;
    return async () => {
      stopped = true;
      clearTimeout(retry);
      await client?.end().catch(() => undefined);
    };
  }

  async query<T>(text: string, params: unknown[] = []): Promise<T[]> {
    return (await this.pool.query(text, params)).rows as T[];
  }

  async simpleQuery<T>(text: string): Promise<T[]> {
    return lastRows<T>(await this.pool.query(text));
  }

  async exec(script: string): Promise<void> {
    await this.pool.query(script);
  }

  async transaction<T>(fn: (tx: SqlClient) => Promise<T>): Promise<T> {
    const client = await this.pool.connect();
    const tx = new PgTx(client);
    try {
      const result = await fn(tx);
      await tx.commit();
      return result;
    } catch (err) {
      await tx.rollback().catch(() => undefined);
      throw err;
    } finally {
      client.release();
    }
  }

  async close(): Promise<void> {
    await this.pool.end();
  }
}

function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

/**
 * The rows of the caller's last statement (as PGlite answers), `appended` statements (COMMIT)
 * before the end: node-postgres answers a query of several statements with one result for each.
 */
function lastRows<T>(answer: QueryResult | QueryResult[], appended = 0): T[] {
  return (Array.isArray(answer) ? answer[answer.length - 1 - appended] : answer).rows as T[];
}
