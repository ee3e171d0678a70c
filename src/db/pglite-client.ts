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

export class PgliteClient implements SqlClient {
  readonly engine = 'pglite' as const;
  private constructor(readonly db: PGlite) {}

  /** `dataDir` undefined → in memory. */
  static async open(dataDir?: string): Promise<PgliteClient> {
    const db = dataDir ? await PGlite.create(dataDir) : await PGlite.create();
    return new PgliteClient(db);
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
    if (!this.db.closed) await this.db.close();
  }
}

async function simpleQuery<T>(db: Queryable, text: string): Promise<T[]> {
  const results = await db.exec(text);
  return (results[results.length - 1]?.rows ?? []) as T[];
}
