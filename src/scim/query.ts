// SCIM list parameters (RFC 7644 §3.4.2), list responses and attribute projection. Pure.
import type { Column } from '../db/filter-sql';
import { invalidValue } from './scim-error';
import { LIST_RESPONSE, MAX_RESULTS } from './schemas';

export interface ListQuery {
  filter?: string;
  /** 1-based, as in SCIM. */
  startIndex: number;
  count: number;
  sortBy?: string;
  sortOrder: 'ascending' | 'descending';
  attributes?: string[];
  excludedAttributes?: string[];
}

export interface Meta {
  resourceType: string;
  created: string;
  lastModified: string;
  version: string;
  location: string;
}

export type ScimResource = { schemas: string[]; id: string; meta: Meta } & Record<string, unknown>;

const one = (v: unknown): string | undefined => (Array.isArray(v) ? (v[0] as string | undefined) : typeof v === 'string' ? v : undefined);
const names = (v: string | undefined) =>
  v
    ?.split(',')
    .map((s) => s.trim())
    .filter(Boolean);

function integer(raw: string | undefined, name: string, fallback: number): number {
  if (raw === undefined || raw === '') return fallback;
  if (!/^-?\d+$/.test(raw)) throw invalidValue(`${name} must be an integer, not "${raw}".`);
  return Number(raw);
}

export function parseListQuery(q: Record<string, unknown>): ListQuery {
  const sortOrder = (one(q.sortOrder) ?? 'ascending').toLowerCase();
  if (sortOrder !== 'ascending' && sortOrder !== 'descending') throw invalidValue('sortOrder must be "ascending" or "descending".');
  const attributes = names(one(q.attributes));
  const excludedAttributes = names(one(q.excludedAttributes));
  return {
    filter: one(q.filter) || undefined,
    // Out-of-range values are interpreted as the nearest valid one (RFC 7644 §3.4.2.4); past 2^53
    // an index is no longer exact, and past 2^63 no SQL offset.
    startIndex: Math.min(Number.MAX_SAFE_INTEGER, Math.max(1, integer(one(q.startIndex), 'startIndex', 1))),
    count: Math.min(MAX_RESULTS, Math.max(0, integer(one(q.count), 'count', 100))),
    sortBy: one(q.sortBy) || undefined,
    sortOrder,
    attributes,
    excludedAttributes,
  };
}

export function projectionOf(q: Record<string, unknown>): Pick<ListQuery, 'attributes' | 'excludedAttributes'> {
  return { attributes: names(one(q.attributes)), excludedAttributes: names(one(q.excludedAttributes)) };
}

/** `ORDER BY` for a sortBy over the filter's column whitelist; the id breaks ties so pages are stable. */
export function orderBy(q: Pick<ListQuery, 'sortBy' | 'sortOrder'>, columns: Record<string, Column>, idSql: string): string {
  const dir = q.sortOrder === 'descending' ? 'desc' : 'asc';
  if (!q.sortBy) return `${idSql} ${dir}`;
  const c = Object.entries(columns).find(([k]) => k.toLowerCase() === q.sortBy!.toLowerCase())?.[1];
  if (!c) throw invalidValue(`Cannot sort by "${q.sortBy}"; sortable: ${Object.keys(columns).join(', ')}.`);
  const expr = c.type === 'text' && !c.caseExact ? `lower(${c.sql})` : c.sql;
  return `${expr} ${dir} nulls last, ${idSql} ${dir}`;
}

export function listResponse(resources: Record<string, unknown>[], totalResults: number, startIndex: number) {
  return { schemas: [LIST_RESPONSE], totalResults, startIndex, itemsPerPage: resources.length, Resources: resources };
}

/**
 * `attributes` / `excludedAttributes` (RFC 7644 §3.9): `id` and `schemas` are always returned.
 * Names are case-insensitive and may be sub-attributes (`name.givenName`) or carry their schema
 * URN (`urn:…:enterprise:2.0:User:department`).
 */
export function project(resource: ScimResource, o: Pick<ListQuery, 'attributes' | 'excludedAttributes'>, coreSchema: string): Record<string, unknown> {
  if (o.attributes?.length) {
    const out: Record<string, unknown> = { schemas: resource.schemas, id: resource.id };
    for (const path of o.attributes) {
      const p = locate(resource, path, coreSchema);
      if (!p) continue;
      const value = p.sub ? (p.holder[p.key] as Record<string, unknown> | undefined)?.[p.sub] : p.holder[p.key];
      if (value === undefined) continue;
      const target = p.urn ? ((out[p.urn] ??= {}) as Record<string, unknown>) : out;
      if (p.sub) {
        const parent = (target[p.key] ??= {}) as Record<string, unknown>;
        const subKey = Object.keys(p.holder[p.key] as object).find((k) => k.toLowerCase() === p.sub!.toLowerCase())!;
        parent[subKey] = value;
      } else target[p.key] = value;
    }
    return out;
  }
  if (o.excludedAttributes?.length) {
    const out = structuredClone(resource) as Record<string, unknown>;
    for (const path of o.excludedAttributes) {
      const p = locate(out as ScimResource, path, coreSchema);
      if (!p || p.key === 'id' || p.key === 'schemas') continue;
      if (p.sub) delete (p.holder[p.key] as Record<string, unknown> | undefined)?.[p.sub];
      else delete p.holder[p.key];
    }
    return out;
  }
  return resource;
}

interface Located {
  holder: Record<string, unknown>;
  key: string;
  sub?: string;
  urn?: string;
}

function locate(resource: ScimResource, path: string, coreSchema: string): Located | undefined {
  let rest = path;
  let holder: Record<string, unknown> = resource;
  let urn: string | undefined;
  const lower = path.toLowerCase();
  if (lower.startsWith(`${coreSchema.toLowerCase()}:`)) rest = path.slice(coreSchema.length + 1);
  else if (lower.startsWith('urn:')) {
    urn = Object.keys(resource).find((k) => k.startsWith('urn:') && lower.startsWith(`${k.toLowerCase()}:`));
    if (!urn) {
      urn = Object.keys(resource).find((k) => k.toLowerCase() === lower);
      return urn ? { holder: resource, key: urn } : undefined;
    }
    rest = path.slice(urn.length + 1);
    holder = resource[urn] as Record<string, unknown>;
    if (!holder || typeof holder !== 'object') return undefined;
  }
  const [name, sub] = rest.split('.', 2);
  const key = Object.keys(holder).find((k) => k.toLowerCase() === name.toLowerCase());
  if (!key) return undefined;
  const found: Located = { holder, key, sub, urn };
  if (sub) {
    const v = holder[key];
    if (!v || typeof v !== 'object' || Array.isArray(v)) return { ...found, sub: undefined };
    const subKey = Object.keys(v).find((k) => k.toLowerCase() === sub.toLowerCase());
    if (!subKey) return undefined;
    found.sub = subKey;
  }
  return found;
}

/** Adds `urn:…:User:userName`-style names: fully qualified attribute names are valid in filters. */
export function withCoreAliases(columns: Record<string, Column>, core: string, extensions: Record<string, string[]> = {}): Record<string, Column> {
  const out = { ...columns };
  for (const [name, c] of Object.entries(columns)) if (!name.startsWith('meta.') && name !== 'id') out[`${core}:${name}`] = c;
  for (const [urn, attrs] of Object.entries(extensions)) for (const a of attrs) out[`${urn}:${a}`] = columns[a];
  return out;
}
