// A SCIM Group and its members (group_members rows). Group ids are what policy rules name
// (`user.groups eq "engineering"`), so a new group takes its displayName's slug as id when free. Pure.
import type { Column } from '../db/filter-sql';
import { withCoreAliases, type ScimResource } from './query';
import { invalidValue } from './scim-error';
import { GROUP } from './schemas';
import { etag, omit, optionalString, requiredString, strip } from './values';

export interface GroupRow {
  id: string;
  display_name: string;
  resource: Record<string, unknown>;
  version: number;
  created_at: Date | string;
  updated_at: Date | string;
  members: { value: string; display: string | null }[] | null;
}

export interface GroupFields {
  displayName: string;
  memberIds: string[];
}

export const GROUP_COLUMNS: Record<string, Column> = withCoreAliases(
  {
    id: { sql: 'g.id', type: 'text', caseExact: true },
    displayName: { sql: 'g.display_name', type: 'text' },
    externalId: { sql: "(g.resource->>'externalId')", type: 'text', caseExact: true },
    'meta.created': { sql: 'g.created_at', type: 'timestamp' },
    'meta.lastModified': { sql: 'g.updated_at', type: 'timestamp' },
  },
  GROUP,
);

const iso = (d: Date | string) => new Date(d).toISOString();

export function renderGroup(row: GroupRow, base: string): ScimResource {
  return strip({
    schemas: [GROUP],
    id: row.id,
    ...omit(row.resource, ['schemas', 'id', 'meta', 'members']),
    displayName: row.display_name,
    members: (row.members ?? []).map((m) => strip({ value: m.value, display: m.display ?? undefined, type: 'User', $ref: `${base}/Users/${m.value}` })),
    meta: { resourceType: 'Group', created: iso(row.created_at), lastModified: iso(row.updated_at), version: etag(row.version), location: `${base}/Groups/${row.id}` },
  }) as ScimResource;
}

export function groupFields(resource: Record<string, unknown>): GroupFields {
  const displayName = requiredString(resource.displayName, 'displayName');
  optionalString(resource.externalId, 'externalId');
  const members = resource.members ?? [];
  if (!Array.isArray(members)) throw invalidValue('members must be an array.');
  const memberIds: string[] = [];
  for (const m of members) {
    if (!m || typeof m !== 'object' || typeof (m as { value?: unknown }).value !== 'string') throw invalidValue('each member needs a string value.');
    const { value, type } = m as { value: string; type?: unknown };
    if (type !== undefined && type !== 'User') throw invalidValue(`Only Users can be members (got type ${String(type)}).`);
    if (!memberIds.includes(value)) memberIds.push(value);
  }
  return { displayName, memberIds };
}

export function storedGroup(resource: Record<string, unknown>): Record<string, unknown> {
  return omit(resource, ['schemas', 'id', 'meta', 'members', 'displayName']);
}

/** The id a new group asks for: its name, lowercased, when that makes a plain id. */
export function groupIdFor(displayName: string): string | undefined {
  const slug = displayName.trim().toLowerCase().replace(/\s+/g, '-');
  return /^[a-z0-9][a-z0-9._-]{0,63}$/.test(slug) ? slug : undefined;
}
