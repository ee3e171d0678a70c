// SCIM Agents and AgenticApplications (draft-abbey-scim-agent-extension-00). An Agent's first
// owner is the person the orchestrator holds accountable (agents.owner_id); without an active
// owner the agent is orphaned and denied. Pure.
import type { Column } from '../db/filter-sql';
import { withCoreAliases, type ScimResource } from './query';
import { invalidValue } from './scim-error';
import { AGENT, AGENT_GOVERNANCE, AGENTIC_APPLICATION } from './schemas';
import { booleanValue, etag, omit, optionalString, requiredString, strip } from './values';

export interface AgentRow {
  id: string;
  name: string;
  owner_id: string | null;
  active: boolean;
  orphaned: boolean;
  resource: Record<string, unknown>;
  version: number;
  created_at: Date | string;
  updated_at: Date | string;
}

export interface ApplicationRow {
  id: string;
  name: string;
  resource: Record<string, unknown>;
  version: number;
  created_at: Date | string;
  updated_at: Date | string;
}

export interface AgentFields {
  name: string;
  active: boolean;
  ownerIds: string[];
}

const common = (alias: string): Record<string, Column> => ({
  id: { sql: `${alias}.id`, type: 'text', caseExact: true },
  name: { sql: `${alias}.name`, type: 'text' },
  displayName: { sql: `(${alias}.resource->>'displayName')`, type: 'text' },
  externalId: { sql: `(${alias}.resource->>'externalId')`, type: 'text', caseExact: true },
  'meta.created': { sql: `${alias}.created_at`, type: 'timestamp' },
  'meta.lastModified': { sql: `${alias}.updated_at`, type: 'timestamp' },
});

export const AGENT_COLUMNS: Record<string, Column> = withCoreAliases(
  {
    ...common('a'),
    active: { sql: 'a.active', type: 'boolean' },
    agentType: { sql: "(a.resource->>'agentType')", type: 'text' },
    'owners.value': { sql: 'a.owner_id', type: 'text', caseExact: true },
    orphaned: { sql: 'a.orphaned', type: 'boolean' },
  },
  AGENT,
);

export const APPLICATION_COLUMNS: Record<string, Column> = withCoreAliases(common('p'), AGENTIC_APPLICATION);

const iso = (d: Date | string) => new Date(d).toISOString();
const SERVER_OWNED = ['schemas', 'id', 'meta', 'groups', AGENT_GOVERNANCE];

export function renderAgent(row: AgentRow, base: string): ScimResource {
  const stored = omit(row.resource, SERVER_OWNED);
  const owners = (stored.owners as { value: string }[] | undefined) ?? (row.owner_id ? [{ value: row.owner_id }] : undefined);
  return strip({
    schemas: [AGENT, AGENT_GOVERNANCE],
    id: row.id,
    ...stored,
    name: row.name,
    active: row.active,
    owners: owners?.map((o) => ({ ...o, $ref: `${base}/Users/${o.value}` })),
    [AGENT_GOVERNANCE]: { orphaned: row.orphaned },
    meta: { resourceType: 'Agent', created: iso(row.created_at), lastModified: iso(row.updated_at), version: etag(row.version), location: `${base}/Agents/${row.id}` },
  }) as ScimResource;
}

export function agentFields(resource: Record<string, unknown>): AgentFields {
  const owners = resource.owners ?? [];
  if (!Array.isArray(owners)) throw invalidValue('owners must be an array.');
  const ownerIds = owners.map((o) => {
    if (!o || typeof o !== 'object' || typeof (o as { value?: unknown }).value !== 'string') throw invalidValue('each owner needs a string value.');
    return (o as { value: string }).value;
  });
  optionalString(resource.displayName, 'displayName');
  return { name: requiredString(resource.name, 'name'), active: booleanValue(resource.active, 'active') ?? true, ownerIds };
}

export function storedAgent(resource: Record<string, unknown>): Record<string, unknown> {
  const out = omit(resource, SERVER_OWNED);
  if (Array.isArray(out.owners)) out.owners = (out.owners as Record<string, unknown>[]).map((o) => omit(o, ['$ref']));
  return { ...out, active: booleanValue(resource.active, 'active') ?? true };
}

export function renderApplication(row: ApplicationRow, base: string): ScimResource {
  return strip({
    schemas: [AGENTIC_APPLICATION],
    id: row.id,
    ...omit(row.resource, ['schemas', 'id', 'meta']),
    name: row.name,
    meta: {
      resourceType: 'AgenticApplication',
      created: iso(row.created_at),
      lastModified: iso(row.updated_at),
      version: etag(row.version),
      location: `${base}/AgenticApplications/${row.id}`,
    },
  }) as ScimResource;
}

export function applicationFields(resource: Record<string, unknown>): { name: string } {
  optionalString(resource.displayName, 'displayName');
  booleanValue(resource.active, 'active');
  return { name: requiredString(resource.name, 'name') };
}

export function storedApplication(resource: Record<string, unknown>): Record<string, unknown> {
  return omit(resource, ['schemas', 'id', 'meta']);
}
