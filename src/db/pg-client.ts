// SqlClient over node-postgres: production PostgreSQL via DATABASE_URL.
import { Pool, type PoolClient } from 'pg';
import type { SqlClient } from './sql';

class PgTx implements SqlClient {
  readonly engine = 'postgres' as const;
  constructor(private readonly client: PoolClient) {}
  async query<T>(text: string, params: unknown[] = []): Promise<T[]> {
    return (await this.client.query(text, params)).rows as T[];
  }
  async exec(script: string): Promise<void> {
    await this.client.query(script);
  }
  transaction<T>(fn: (tx: SqlClient) => Promise<T>): Promise<T> {
    return fn(this);
  }
  async close(): Promise<void> {}
}

export class PgClient implements SqlClient {
  readonly engine = 'postgres' as const;
  constructor(private readonly pool: Pool) {}

  static open(url: string, max = 10): PgClient {
    const pool = new Pool({ connectionString: url, max });
    // An idle client's error (server restart) must not crash the process; the next query reconnects.
    pool.on('error', () => undefined);
    return new PgClient(pool);
  }

  async query<T>(text: string, params: unknown[] = []): Promise<T[]> {
    return (await this.pool.query(text, params)).rows as T[];
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
