// A SCIM User (core + enterprise extension) and the typed users columns the policy and approver
// routing read. The stored resource is the source; the columns are derived from it on every
// write, so the two never disagree. Pure.
import type { Column } from '../db/filter-sql';
import { withCoreAliases, type ScimResource } from './query';
import { invalidValue } from './scim-error';
import { ENTERPRISE_USER, USER } from './schemas';
import { booleanValue, etag, omit, optionalString, requiredString, strip } from './values';

export interface UserRow {
  id: string;
  user_name: string;
  external_id: string | null;
  display_name: string | null;
  title: string | null;
  department: string | null;
  user_type: string | null;
  manager_id: string | null;
  email: string | null;
  active: boolean;
  resource: Record<string, unknown>;
  version: number;
  created_at: Date | string;
  updated_at: Date | string;
  groups: { value: string; display: string }[] | null;
}

export interface UserColumns {
  userName: string;
  externalId?: string;
  displayName?: string;
  title?: string;
  department?: string;
  userType?: string;
  managerId?: string;
  email?: string;
  active: boolean;
}

/** Attributes the policy reads: a change to one of them re-evaluates the person's live grants. */
export const MOVER_ATTRIBUTES = ['department', 'title', 'managerId', 'userType'] as const;

const iso = (d: Date | string) => new Date(d).toISOString();

/** Attributes the server owns: never stored from a client's body. */
const SERVER_OWNED = ['schemas', 'id', 'meta', 'groups'];

/** Filterable and sortable attributes → SQL over `users u` (SCIM filters become SQL, never in-memory). */
export const USER_COLUMNS: Record<string, Column> = withCoreAliases(
  {
    id: { sql: 'u.id', type: 'text', caseExact: true },
    userName: { sql: 'u.user_name', type: 'text' },
    externalId: { sql: 'u.external_id', type: 'text', caseExact: true },
    displayName: { sql: 'u.display_name', type: 'text' },
    title: { sql: 'u.title', type: 'text' },
    userType: { sql: 'u.user_type', type: 'text' },
    active: { sql: 'u.active', type: 'boolean' },
    emails: { sql: 'u.email', type: 'text' },
    'emails.value': { sql: 'u.email', type: 'text' },
    'name.familyName': { sql: "(u.resource->'name'->>'familyName')", type: 'text' },
    'name.givenName': { sql: "(u.resource->'name'->>'givenName')", type: 'text' },
    'name.formatted': { sql: "(u.resource->'name'->>'formatted')", type: 'text' },
    department: { sql: 'u.department', type: 'text' },
    'manager.value': { sql: 'u.manager_id', type: 'text', caseExact: true },
    employeeNumber: { sql: `(u.resource->'${ENTERPRISE_USER}'->>'employeeNumber')`, type: 'text' },
    'meta.created': { sql: 'u.created_at', type: 'timestamp' },
    'meta.lastModified': { sql: 'u.updated_at', type: 'timestamp' },
  },
  USER,
  { [ENTERPRISE_USER]: ['department', 'manager.value', 'employeeNumber'] },
);

/** The resource as the client sees it: the stored one, with the typed columns and groups laid over. */
export function renderUser(row: UserRow, base: string): ScimResource {
  const rest = omit(row.resource, [...SERVER_OWNED, ENTERPRISE_USER]);
  const storedEnterprise = row.resource[ENTERPRISE_USER];
  const enterprise: Record<string, unknown> = { ...((storedEnterprise as Record<string, unknown> | undefined) ?? {}) };
  if (row.department) enterprise.department = row.department;
  else delete enterprise.department;
  if (row.manager_id) {
    const m = enterprise.manager && typeof enterprise.manager === 'object' ? (enterprise.manager as Record<string, unknown>) : {};
    enterprise.manager = { ...m, value: row.manager_id, $ref: `${base}/Users/${row.manager_id}` };
  } else delete enterprise.manager;
  const emails = (rest.emails as unknown[] | undefined)?.length ? rest.emails : row.email ? [{ value: row.email, type: 'work', primary: true }] : undefined;
  const hasEnterprise = Object.keys(enterprise).length > 0;
  return strip({
    schemas: hasEnterprise ? [USER, ENTERPRISE_USER] : [USER],
    id: row.id,
    ...rest,
    externalId: row.external_id ?? undefined,
    userName: row.user_name,
    displayName: row.display_name ?? undefined,
    title: row.title ?? undefined,
    userType: row.user_type ?? undefined,
    active: row.active,
    emails,
    groups: row.groups?.length ? row.groups.map((g) => ({ value: g.value, display: g.display, $ref: `${base}/Groups/${g.value}` })) : undefined,
    ...(hasEnterprise ? { [ENTERPRISE_USER]: enterprise } : {}),
    meta: {
      resourceType: 'User',
      created: iso(row.created_at),
      lastModified: iso(row.updated_at),
      version: etag(row.version),
      location: `${base}/Users/${row.id}`,
    },
  }) as ScimResource;
}

/** Validates a client's User and derives the typed columns; throws invalidValue. */
export function userColumns(resource: Record<string, unknown>): UserColumns {
  const enterprise = enterpriseOf(resource);
  const manager = enterprise.manager;
  const managerId =
    typeof manager === 'string' ? optionalString(manager, 'manager') : manager && typeof manager === 'object' ? optionalString((manager as { value?: unknown }).value, 'manager.value') : undefined;
  if (manager !== undefined && manager !== null && typeof manager !== 'string' && typeof manager !== 'object') throw invalidValue('manager must be an object with a value.');
  return {
    userName: requiredString(resource.userName, 'userName'),
    externalId: optionalString(resource.externalId, 'externalId'),
    displayName: optionalString(resource.displayName, 'displayName'),
    title: optionalString(resource.title, 'title'),
    department: optionalString(enterprise.department, 'department'),
    userType: optionalString(resource.userType, 'userType'),
    managerId,
    email: primaryEmail(resource.emails),
    active: booleanValue(resource.active, 'active') ?? true,
  };
}

/** What is kept in users.resource: the client's attributes less what the server owns. */
export function storedUser(resource: Record<string, unknown>): Record<string, unknown> {
  const enterprise = enterpriseOf(resource);
  const out: Record<string, unknown> = { ...omit(resource, SERVER_OWNED), active: booleanValue(resource.active, 'active') ?? true };
  // Enterprise attributes sent flattened (`urn:…:User:department`) are folded into the extension.
  for (const k of Object.keys(out)) if (k.toLowerCase().startsWith(`${ENTERPRISE_USER.toLowerCase()}:`)) delete out[k];
  delete out[ENTERPRISE_USER];
  if (Object.keys(enterprise).length) out[ENTERPRISE_USER] = enterprise;
  return out;
}

function enterpriseOf(resource: Record<string, unknown>): Record<string, unknown> {
  const key = Object.keys(resource).find((k) => k.toLowerCase() === ENTERPRISE_USER.toLowerCase());
  const nested = key ? resource[key] : undefined;
  if (nested !== undefined && (typeof nested !== 'object' || nested === null || Array.isArray(nested))) throw invalidValue(`${ENTERPRISE_USER} must be an object.`);
  const out: Record<string, unknown> = { ...((nested as Record<string, unknown>) ?? {}) };
  for (const [k, v] of Object.entries(resource)) {
    if (!k.toLowerCase().startsWith(`${ENTERPRISE_USER.toLowerCase()}:`)) continue;
    const [name, sub] = k.slice(ENTERPRISE_USER.length + 1).split('.', 2);
    if (sub) out[name] = { ...((out[name] as object) ?? {}), [sub]: v };
    else out[name] = v;
  }
  for (const [k, v] of Object.entries(out)) if (v === null || v === '') delete out[k];
  // The manager's $ref and displayName are the server's (readOnly): only the id is kept.
  if (out.manager && typeof out.manager === 'object') out.manager = omit(out.manager as Record<string, unknown>, ['$ref', 'displayName']);
  return out;
}

function primaryEmail(emails: unknown): string | undefined {
  if (emails === undefined || emails === null) return undefined;
  if (!Array.isArray(emails)) throw invalidValue('emails must be an array.');
  for (const e of emails) {
    if (!e || typeof e !== 'object' || typeof (e as { value?: unknown }).value !== 'string') throw invalidValue('each email needs a string value.');
    // An address is at most 254 characters (RFC 5321); the primary one is indexed, and an index
    // entry has a size limit (a longer one failed in the database).
    optionalString((e as { value: string }).value, 'emails.value', 256);
  }
  const list = emails as { value: string; type?: string; primary?: boolean }[];
  return (list.find((e) => e.primary) ?? list.find((e) => e.type === 'work') ?? list[0])?.value;
}
