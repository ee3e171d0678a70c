// Rule conditions: SCIM filters (RFC 7644 §3.4.2.2, parsed by scim2-parse-filter) compiled to
// closures over the evaluation document. The operators are ours rather than the library's tester
// because policy needs what it does differently: a multi-valued attribute matches if any element
// matches, `pr` is false for null and empty values, ISO-8601 strings order as instants, and a
// comparison on a complex value reads its `value` sub-attribute (the RFC's `emails co "x"`).
// Attribute names and operators are case-insensitive; values compare case-exactly (like Cedar),
// so `userType eq "Contractor"` means exactly that spelling.
import { parse, stringify, type Filter } from 'scim2-parse-filter';

export type { Filter } from 'scim2-parse-filter';
export { stringify as filterText } from 'scim2-parse-filter';

/** A compiled condition over the evaluation document. */
export type Predicate = (doc: unknown) => boolean;

type Leaf = (value: unknown) => boolean;

/** Parses a filter; throws with the parser's message when it does not parse. */
export function parseFilter(text: string): Filter {
  if (typeof text !== 'string' || !text.trim()) throw new Error('empty filter');
  return parse(text);
}

/** `a.b.c` → segments; a URN-prefixed path keeps its schema URN as the first segment (as the RFC's examples do). */
export function pathSegments(attrPath: string): string[] {
  const i = attrPath.lastIndexOf(':');
  return i < 0 ? attrPath.split('.') : [attrPath.slice(0, i), ...attrPath.slice(i + 1).split('.')];
}

export function compileFilter(f: Filter): Predicate {
  switch (f.op) {
    case 'and': {
      const parts = f.filters.map(compileFilter);
      if (parts.length === 2) {
        const [a, b] = parts;
        return (d) => a(d) && b(d);
      }
      return (d) => {
        for (const p of parts) if (!p(d)) return false;
        return true;
      };
    }
    case 'or': {
      const parts = f.filters.map(compileFilter);
      if (parts.length === 2) {
        const [a, b] = parts;
        return (d) => a(d) || b(d);
      }
      return (d) => {
        for (const p of parts) if (p(d)) return true;
        return false;
      };
    }
    case 'not': {
      const inner = compileFilter(f.filter);
      return (d) => !inner(d);
    }
    case '[]':
      return compilePath(pathSegments(f.attrPath), compileFilter(f.valFilter), false);
    case 'pr':
      return compilePath(pathSegments(f.attrPath), present, false);
    default:
      return compilePath(pathSegments(f.attrPath), comparison(f.op, f.compValue), true);
  }
}

/**
 * Walks the path (any element of an array along the way may match) and tests what it reaches.
 * One closure per path with the walk as a loop: this is the hot path of evaluation. With
 * `complex`, an object reached is compared by its `value` sub-attribute (RFC 7644's `emails co "x"`).
 */
function compilePath(segments: string[], leaf: Leaf, complex: boolean): Predicate {
  const n = segments.length;
  const lower = segments.map((s) => s.toLowerCase());
  // Names every object inherits (constructor, toString, __proto__) are read as own properties only.
  const inherited = segments.map((s) => s in Object.prototype);
  const atEnd = (v: unknown): boolean => {
    if (typeof v !== 'object' || v === null) return leaf(v);
    if (Array.isArray(v)) {
      for (const e of v) if (atEnd(e)) return true;
      return false;
    }
    if (!complex) return leaf(v);
    const inner = member(v as Record<string, unknown>, 'value');
    return inner !== undefined && leaf(inner);
  };
  const walk = (r: unknown, i = 0): boolean => {
    for (; i < n; i++) {
      if (typeof r !== 'object' || r === null) return false;
      if (Array.isArray(r)) {
        for (const e of r) if (walk(e, i)) return true;
        return false;
      }
      const o = r as Record<string, unknown>;
      const name = segments[i];
      r = inherited[i] ? member(o, name, lower[i]) : o[name];
      if (r === undefined) r = anySpelling(o, lower[i]);
      if (r === undefined) return false;
    }
    return atEnd(r);
  };
  return walk;
}

/** An own attribute by name, case-insensitively; the exact spelling is tried first. */
export function member(o: Record<string, unknown>, name: string, lower = name.toLowerCase()): unknown {
  return Object.hasOwn(o, name) ? o[name] : anySpelling(o, lower);
}

function anySpelling(o: Record<string, unknown>, lower: string): unknown {
  for (const k in o) if (Object.hasOwn(o, k) && k.toLowerCase() === lower) return o[k];
  return undefined;
}

/** RFC 7644: `pr` matches a non-empty value or a non-empty complex node. Arrays were expanded before. */
export function present(v: unknown): boolean {
  if (v === undefined || v === null || v === '') return false;
  if (typeof v === 'object') return Object.keys(v).length > 0;
  return true;
}

type CompareOp = Exclude<Filter['op'], 'and' | 'or' | 'not' | '[]' | 'pr'>;
type CompValue = string | number | boolean | null;

const ORDER: Record<'gt' | 'ge' | 'lt' | 'le', (d: number) => boolean> = {
  gt: (d) => d > 0,
  ge: (d) => d >= 0,
  lt: (d) => d < 0,
  le: (d) => d <= 0,
};

function comparison(op: CompareOp, c: CompValue): Leaf {
  switch (op) {
    case 'eq':
      return (v) => v === c;
    case 'ne':
      return (v) => v !== c;
    case 'co':
    case 'sw':
    case 'ew': {
      if (c === null) return () => false;
      const needle = String(c);
      const test = op === 'co' ? (s: string) => s.includes(needle) : op === 'sw' ? (s: string) => s.startsWith(needle) : (s: string) => s.endsWith(needle);
      return (v) => {
        const s = text(v);
        return s !== undefined && test(s);
      };
    }
    default:
      return ordering(ORDER[op], c);
  }
}

function text(v: unknown): string | undefined {
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  return undefined;
}

/** Numbers order as numbers; strings as instants when both sides are ISO-8601, else by code unit. Nothing else orders. */
function ordering(holds: (d: number) => boolean, c: CompValue): Leaf {
  if (typeof c === 'number') return (v) => typeof v === 'number' && holds(v - c);
  if (typeof c !== 'string') return () => false;
  const cAt = instant(c);
  return (v) => {
    if (typeof v !== 'string') return false;
    if (cAt !== undefined) {
      const vAt = instant(v);
      if (vAt !== undefined) return holds(vAt - cAt);
    }
    return holds(v < c ? -1 : v > c ? 1 : 0);
  };
}

const ISO_8601 = /^\d{4}-\d{2}-\d{2}(?:T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})?)?$/;

/**
 * Milliseconds since the epoch of an ISO-8601 date or date-time, else undefined. A date-time
 * without an offset is read as UTC, never as the machine's local time, so replays agree everywhere.
 */
export function instant(s: string): number | undefined {
  const m = ISO_8601.exec(s);
  if (!m) return undefined;
  const t = Date.parse(s.length > 10 && !m[1] ? `${s}Z` : s);
  return Number.isNaN(t) ? undefined : t;
}

/** Conjuncts of a filter's top-level `and` (nested `and`s flattened). */
export function conjuncts(f: Filter): Filter[] {
  return f.op === 'and' ? f.filters.flatMap(conjuncts) : [f];
}

function disjuncts(f: Filter): Filter[] {
  return f.op === 'or' ? f.filters.flatMap(disjuncts) : [f];
}

/** What a rule can be indexed by: the call's tool, the tool's app, or its action class. */
export type IndexAttribute = 'tool' | 'app' | 'action';

const INDEX_PATHS: Record<string, IndexAttribute> = { 'tool.id': 'tool', 'app.id': 'app', 'tool.app': 'app', action: 'action', 'tool.action': 'action' };
const SELECTIVITY: IndexAttribute[] = ['tool', 'app', 'action'];

function equalityKey(f: Filter): { attr: IndexAttribute; value: string } | undefined {
  if (f.op !== 'eq' || typeof f.compValue !== 'string') return undefined;
  const attr = INDEX_PATHS[f.attrPath.toLowerCase()];
  return attr && { attr, value: f.compValue };
}

/**
 * The index key of a filter: a top-level conjunct `tool.id eq "x"` (or `app.id`, `tool.app`,
 * `action`), or an `or` of such equalities on one attribute. The filter can only hold for calls
 * with one of `values`, so the rule need only be checked for those, and for those only `rest`
 * (the other conjuncts; none when undefined) needs checking. Most selective attribute wins.
 */
export function indexKey(f: Filter): { attr: IndexAttribute; values: string[]; rest?: Filter } | undefined {
  const all = conjuncts(f);
  let best: { attr: IndexAttribute; values: string[]; at: number } | undefined;
  all.forEach((c, at) => {
    const alternatives = disjuncts(c).map(equalityKey);
    const attr = alternatives[0]?.attr;
    if (!attr || !alternatives.every((k) => k?.attr === attr)) return;
    if (best && SELECTIVITY.indexOf(best.attr) <= SELECTIVITY.indexOf(attr)) return;
    best = { attr, values: [...new Set(alternatives.map((k) => k!.value))], at };
  });
  if (!best) return undefined;
  const others = all.filter((_, i) => i !== best!.at);
  const rest: Filter | undefined = others.length > 1 ? { op: 'and', filters: others } : others[0];
  return rest ? { attr: best.attr, values: best.values, rest } : { attr: best.attr, values: best.values };
}

type Condition = Exclude<Filter, { op: 'and' | 'or' | 'not' }>;

/** The conditions of a filter under its `and`, `or` and `not` (a value path counts as one: its inner paths are relative). */
export function conditions(f: Filter): Condition[] {
  switch (f.op) {
    case 'and':
    case 'or':
      return f.filters.flatMap(conditions);
    case 'not':
      return conditions(f.filter);
    default:
      return [f];
  }
}

/** Attribute paths a filter reads from the document. */
export function attributePaths(f: Filter): string[] {
  return conditions(f).map((c) => c.attrPath);
}

/** Every `attr op value` comparison outside value filters (for reference checks). */
export function comparisons(f: Filter): { attrPath: string; op: string; compValue: CompValue }[] {
  return conditions(f).flatMap((c) => (c.op === '[]' || c.op === 'pr' ? [] : [c]));
}

/** The values a path reaches in the document, arrays flattened (for explanations). */
export function valuesAt(doc: unknown, attrPath: string): unknown[] {
  let at: unknown[] = [doc];
  for (const seg of pathSegments(attrPath)) {
    const lower = seg.toLowerCase();
    at = flat(at).flatMap((r) => {
      if (typeof r !== 'object' || r === null) return [];
      const v = member(r as Record<string, unknown>, seg, lower);
      return v === undefined ? [] : [v];
    });
  }
  return flat(at);
}

function flat(values: unknown[]): unknown[] {
  return values.flatMap((v) => (Array.isArray(v) ? flat(v) : [v]));
}

/** Why a filter does not hold for a document, in one line naming the failing condition and what the document has. */
export function whyNot(f: Filter, doc: unknown): string {
  switch (f.op) {
    case 'and': {
      const failing = f.filters.find((c) => !compileFilter(c)(doc));
      return failing ? whyNot(failing, doc) : `${stringify(f)} holds`;
    }
    case 'or':
      return `none holds: ${f.filters.map((c) => whyNot(c, doc)).join('; ')}`;
    case 'not':
      return `${stringify(f.filter)} holds`;
    default: {
      const values = valuesAt(doc, f.attrPath);
      const shown = values.length ? values.map((v) => truncate(JSON.stringify(v) ?? String(v))).join(', ') : 'absent';
      return `${stringify(f)} is false (${f.attrPath}: ${shown})`;
    }
  }
}

function truncate(s: string): string {
  return s.length > 60 ? `${s.slice(0, 57)}...` : s;
}
