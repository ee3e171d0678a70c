// One narrow SQL port over node-postgres (production) and PGlite (embedded default, tests).
// Both speak parameterized PostgreSQL with `$n` placeholders and return `{ rows }`, so
// repositories write plain SQL once and run on either.

export interface Listener {
  payload(payload: string): void;
  live(up: boolean): void;
}

export interface StatementOptions {
  /**
   * Nothing follows this statement in its transaction, so the engine may commit with it: on
   * PostgreSQL the statement and COMMIT go as one simple query, a round trip less per transaction
   * (the group commit's wall time is what bounds the trace's throughput there). The transaction is
   * committed once it returns; outside a transaction it means nothing.
   */
  last?: boolean;
}

export interface SqlClient {
  query<T = Record<string, unknown>>(text: string, params?: unknown[]): Promise<T[]>;
  /**
   * One statement with its values already inlined by `literal`: the simple query protocol. For the
   * hot statements only (the trace group commit): PGlite answers a parameterized query with a
   * parse-and-describe exchange before it runs, which costs more than many statements' own work.
   */
  simpleQuery<T = Record<string, unknown>>(text: string, opts?: StatementOptions): Promise<T[]>;
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

/**
 * A value as an SQL literal of unknown type, resolved by its context as a `$n` parameter would be.
 * Strings, numbers, booleans and null; an array of strings is a text[].
 */
export function literal(value: unknown): string {
  if (value === null || value === undefined) return 'null';
  if (typeof value === 'string') return escapeLiteral(value);
  if (typeof value === 'number' || typeof value === 'bigint' || typeof value === 'boolean') {
    if (typeof value === 'number' && !Number.isFinite(value)) throw new TypeError(`not a finite number: ${value}`);
    return `'${String(value)}'`;
  }
  if (Array.isArray(value)) {
    // Empty: untyped, so it takes the type its context gives it (a function's text[] or boolean[]).
    if (!value.length) return `'{}'`;
    if (value.every((v) => typeof v === 'string' || v === null)) return `array[${value.map((v) => (v === null ? 'null' : escapeLiteral(v))).join(', ')}]`;
    if (value.every((v) => typeof v === 'boolean')) return `array[${value.join(', ')}]`;
  }
  throw new TypeError(`no SQL literal for ${Array.isArray(value) ? 'an array of other than strings and nulls, or booleans' : typeof value}`);
}

/**
 * node-postgres's escapeLiteral, by regular expressions instead of a loop over characters (it was
 * 2% of the in-context path's CPU, on a batch's 40 kB of records): quotes doubled; with a
 * backslash, an E'' string with backslashes doubled, right whatever standard_conforming_strings.
 */
function escapeLiteral(s: string): string {
  const quoted = s.replace(/'/g, "''");
  return s.includes('\\') ? ` E'${quoted.replace(/\\/g, '\\\\')}'` : `'${quoted}'`;
}
