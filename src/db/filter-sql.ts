// SCIM filters (RFC 7644 §3.4.2.2, parsed by scim2-parse-filter) translated to a parameterized SQL
// WHERE clause over a whitelist of columns, so lists are filtered by the database, never in memory.
// Pure: no database access; the caller runs the SQL.
import { parse, type Filter } from 'scim2-parse-filter';

export type ColumnType = 'text' | 'timestamp' | 'integer' | 'boolean';

/**
 * An RFC 3339 date-time, or a date alone (midnight UTC): Date.parse also reads "1" (as 2001) or a
 * time without its offset (as local time). And only instants in years 0001-9999 (UTC), which
 * PostgreSQL reads too: it refuses year 0 and years past 9999.
 */
const RFC3339 = /^\d{4}-\d{2}-\d{2}(?:[Tt ]\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?(?:[Zz]|[+-]\d{2}:\d{2}))?$/;
const EARLIEST = Date.parse('0001-01-01T00:00:00Z');
const LATEST = Date.parse('9999-12-31T23:59:59.999Z');

export interface Column {
  /** A SQL expression (a column name or a JSON path expression); never user input. */
  sql: string;
  type: ColumnType;
  /** Text compared case-sensitively (ids of traces, hashes); default: case-insensitive per SCIM. */
  caseExact?: boolean;
}

export class FilterError extends Error {
  constructor(
    message: string,
    /** The SCIM error type: `invalidFilter` for syntax and unknown attributes or operators. */
    readonly scimType: 'invalidFilter' = 'invalidFilter',
  ) {
    super(message);
  }
}

export interface SqlWhere {
  where: string;
  params: unknown[];
}

/** Parses and translates; `params` continue after `firstParam - 1` existing placeholders. */
export function scimFilterToSql(filter: string, columns: Record<string, Column>, firstParam = 1): SqlWhere {
  let ast: Filter;
  try {
    ast = parse(filter);
  } catch (err) {
    throw new FilterError(`The filter does not parse: ${err instanceof Error ? err.message : String(err)}`);
  }
  const lookup = new Map(Object.entries(columns).map(([k, v]) => [k.toLowerCase(), v]));
  const params: unknown[] = [];
  const param = (v: unknown) => {
    params.push(v);
    return `$${firstParam + params.length - 1}`;
  };
  const column = (attrPath: string): Column => {
    const c = lookup.get(attrPath.toLowerCase());
    if (!c) throw new FilterError(`Unknown attribute "${attrPath}"; filterable: ${Object.keys(columns).join(', ')}`);
    return c;
  };

  const walk = (f: Filter): string => {
    switch (f.op) {
      case 'and':
      case 'or':
        return `(${f.filters.map(walk).join(` ${f.op} `)})`;
      case 'not':
        return `(not coalesce(${walk(f.filter)}, false))`;
      case 'pr': {
        const c = column(f.attrPath);
        return c.type === 'text' ? `(${c.sql} is not null and ${c.sql} <> '')` : `(${c.sql} is not null)`;
      }
      case '[]':
        throw new FilterError(`Value paths (${f.attrPath}[...]) are not supported on this resource`);
      default:
        return compare(f.op, column(f.attrPath), f.compValue, f.attrPath);
    }
  };

  const compare = (op: string, c: Column, value: unknown, attr: string): string => {
    if (value === null) {
      if (op === 'eq') return `(${c.sql} is null)`;
      if (op === 'ne') return `(${c.sql} is not null)`;
      throw new FilterError(`"${attr} ${op} null" is not a valid comparison`);
    }
    const sqlOp = { eq: '=', ne: '<>', gt: '>', ge: '>=', lt: '<', le: '<=' }[op];
    if (c.type === 'boolean') {
      if (typeof value !== 'boolean' || (op !== 'eq' && op !== 'ne')) throw new FilterError(`"${attr}" is boolean: only eq/ne true/false`);
      return `(${c.sql} ${sqlOp} ${param(value)})`;
    }
    if (c.type === 'integer') {
      // A safe integer only: 1e999 parses as Infinity, and 1.5 or 1e300 are no bigint either.
      if (!Number.isSafeInteger(value) || !sqlOp) throw new FilterError(`"${attr}" is a whole number: use eq, ne, gt, ge, lt, le with one (at most 2^53 - 1)`);
      return `(${c.sql} ${sqlOp} ${param(value)})`;
    }
    if (c.type === 'timestamp') {
      const at = typeof value === 'string' && RFC3339.test(value) ? Date.parse(value) : NaN;
      if (!(at >= EARLIEST && at <= LATEST) || !sqlOp) {
        throw new FilterError(`"${attr}" is a date-time: use eq, ne, gt, ge, lt, le with an RFC 3339 string (years 0001 to 9999)`);
      }
      return `(${c.sql} ${sqlOp} ${param(new Date(at).toISOString())}::timestamptz)`;
    }
    if (typeof value !== 'string') throw new FilterError(`"${attr}" is a string: compare it with a quoted value`);
    const col = c.caseExact ? c.sql : `lower(${c.sql})`;
    const v = c.caseExact ? value : value.toLowerCase();
    const like = (pattern: string) => `(${col} like ${param(pattern)} escape '\\')`;
    const escaped = v.replace(/[\\%_]/g, (m) => `\\${m}`);
    switch (op) {
      case 'co':
        return like(`%${escaped}%`);
      case 'sw':
        return like(`${escaped}%`);
      case 'ew':
        return like(`%${escaped}`);
      default:
        if (!sqlOp) throw new FilterError(`Unsupported operator "${op}"`);
        return `(${col} ${sqlOp} ${param(v)})`;
    }
  };

  return { where: walk(ast), params };
}
