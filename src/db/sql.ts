// One narrow SQL port over node-postgres (production) and PGlite (embedded default, tests).
// Both speak parameterized PostgreSQL with `$n` placeholders and return `{ rows }`, so
// repositories write plain SQL once and run on either.

export interface Listener {
  payload(payload: string): void;
  live(up: boolean): void;
}

export interface SqlClient {
  query<T = Record<string, unknown>>(text: string, params?: unknown[]): Promise<T[]>;
  /** Runs a script of several statements without parameters (migrations). */
  exec(script: string): Promise<void>;
  /** Runs `fn` in one transaction on one connection; rolls back if it throws. */
  transaction<T>(fn: (tx: SqlClient) => Promise<T>): Promise<T>;
  /** `pglite` or `postgres`: for the few places the engines differ (e.g. advisory locks). */
  readonly engine: 'pglite' | 'postgres';
  /**
   * Delivers NOTIFY payloads of `channel` (sent at commit, in commit order). Resolves once
   * listening; `live(false)` says notifications may be lost from now on (the connection dropped),
   * `live(true)` that they flow again. Returns a function that stops listening.
   */
  listen(channel: string, handler: Listener): Promise<() => Promise<void>>;
  close(): Promise<void>;
}
