// SqlClient over node-postgres: production PostgreSQL via DATABASE_URL.
import { Client, Pool, type PoolClient } from 'pg';
import type { Listener, SqlClient } from './sql';

class PgTx implements SqlClient {
  readonly engine = 'postgres' as const;
  constructor(private readonly client: PoolClient) {}
  async query<T>(text: string, params: unknown[] = []): Promise<T[]> {
    return (await this.client.query(text, params)).rows as T[];
  }
  async simpleQuery<T>(text: string): Promise<T[]> {
    return (await this.client.query(text)).rows as T[]; // no values: node-postgres sends a simple query
  }
  async exec(script: string): Promise<void> {
    await this.client.query(script);
  }
  transaction<T>(fn: (tx: SqlClient) => Promise<T>): Promise<T> {
    return fn(this);
  }
  listen(): Promise<() => Promise<void>> {
    throw new Error('listen inside a transaction');
  }
  async close(): Promise<void> {}
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
    return (await this.pool.query(text)).rows as T[];
  }

  async exec(script: string): Promise<void> {
    await this.pool.query(script);
  }

  async transaction<T>(fn: (tx: SqlClient) => Promise<T>): Promise<T> {
    const client = await this.pool.connect();
    try {
      await client.query('BEGIN');
      const result = await fn(new PgTx(client));
      await client.query('COMMIT');
      return result;
    } catch (err) {
      await client.query('ROLLBACK').catch(() => undefined);
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
