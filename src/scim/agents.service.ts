// /Agents and /AgenticApplications (the SCIM agent extension draft). An agent is accountable to
// its first active owner; owners who all left orphan it (denied until an active owner is set).
import { randomUUID } from 'node:crypto';
import type { SqlClient } from '../db/sql';
import { agentFields, applicationFields, renderAgent, renderApplication, storedAgent, storedApplication, type AgentRow } from './agent-resources';
import { optimistic, type ScimEndpoint } from './endpoint';
import { applyPatch } from './patch';
import type { ListQuery, ScimResource } from './query';
import { invalidValue, notFound } from './scim-error';
import { ScimRepository } from './scim-repository';
import { AGENT, AGENTIC_APPLICATION } from './schemas';
import { checkIfMatch, requireSchema } from './values';

export class AgentsService implements ScimEndpoint {
  readonly schema = AGENT;
  private readonly repo: ScimRepository;

  constructor(private readonly db: SqlClient) {
    this.repo = new ScimRepository(db);
  }

  async list(q: ListQuery, base: string) {
    const page = await this.repo.listAgents(q);
    return { total: page.total, resources: page.rows.map((r) => renderAgent(r, base)) };
  }

  async get(id: string, base: string): Promise<ScimResource> {
    const row = await this.repo.agent(id);
    if (!row) throw notFound('Agent', id);
    return renderAgent(row, base);
  }

  async create(body: unknown, base: string): Promise<ScimResource> {
    const resource = requireSchema(body, AGENT);
    const id = randomUUID();
    const agent = await this.agent(id, resource);
    await this.repo.insertAgent(this.db, agent);
    return this.get(id, base);
  }

  replace(id: string, body: unknown, ifMatch: string | undefined, base: string): Promise<ScimResource> {
    const resource = requireSchema(body, AGENT);
    return this.write(id, ifMatch, base, () => resource);
  }

  patch(id: string, body: unknown, ifMatch: string | undefined, base: string): Promise<ScimResource> {
    return this.write(id, ifMatch, base, (current) => applyPatch(current, body, AGENT, ['groups']));
  }

  async delete(id: string, ifMatch: string | undefined): Promise<void> {
    const row = await this.repo.agent(id);
    if (!row) throw notFound('Agent', id);
    checkIfMatch(ifMatch, row.version);
    await this.repo.deleteAgent(id);
  }

  private async write(id: string, ifMatch: string | undefined, base: string, change: (current: ScimResource) => Record<string, unknown>): Promise<ScimResource> {
    await optimistic(ifMatch, async () => {
      const row = await this.repo.agent(id);
      if (!row) throw notFound('Agent', id);
      checkIfMatch(ifMatch, row.version);
      const agent = await this.agent(id, change(renderAgent(row, base)), row);
      return (await this.db.transaction((tx) => this.repo.updateAgent(tx, row.version, agent))) || undefined;
    });
    return this.get(id, base);
  }

  /** The row to write: the accountable owner is the first active one; none active → orphaned. */
  private async agent(id: string, resource: Record<string, unknown>, before?: AgentRow) {
    const f = agentFields(resource);
    const people = await this.repo.existingUsers(f.ownerIds);
    const unknown = f.ownerIds.filter((o) => !people.some((p) => p.id === o));
    if (unknown.length) throw invalidValue(`Unknown owners: ${unknown.join(', ')}.`);
    const active = f.ownerIds.find((o) => people.find((p) => p.id === o)?.active);
    // Without owners an orphaned agent stays orphaned: only an active owner clears it.
    const orphaned = f.ownerIds.length ? !active : (before?.orphaned ?? false);
    return { id, name: f.name, ownerId: active ?? f.ownerIds[0], active: f.active, orphaned, resource: storedAgent(resource) };
  }
}

export class ApplicationsService implements ScimEndpoint {
  readonly schema = AGENTIC_APPLICATION;
  private readonly repo: ScimRepository;

  constructor(db: SqlClient) {
    this.repo = new ScimRepository(db);
  }

  async list(q: ListQuery, base: string) {
    const page = await this.repo.listApplications(q);
    return { total: page.total, resources: page.rows.map((r) => renderApplication(r, base)) };
  }

  async get(id: string, base: string): Promise<ScimResource> {
    const row = await this.repo.application(id);
    if (!row) throw notFound('AgenticApplication', id);
    return renderApplication(row, base);
  }

  async create(body: unknown, base: string): Promise<ScimResource> {
    const resource = requireSchema(body, AGENTIC_APPLICATION);
    const id = randomUUID();
    await this.repo.insertApplication(id, applicationFields(resource).name, storedApplication(resource));
    return this.get(id, base);
  }

  replace(id: string, body: unknown, ifMatch: string | undefined, base: string): Promise<ScimResource> {
    const resource = requireSchema(body, AGENTIC_APPLICATION);
    return this.write(id, ifMatch, base, () => resource);
  }

  patch(id: string, body: unknown, ifMatch: string | undefined, base: string): Promise<ScimResource> {
    return this.write(id, ifMatch, base, (current) => applyPatch(current, body, AGENTIC_APPLICATION));
  }

  async delete(id: string, ifMatch: string | undefined): Promise<void> {
    const row = await this.repo.application(id);
    if (!row) throw notFound('AgenticApplication', id);
    checkIfMatch(ifMatch, row.version);
    await this.repo.deleteApplication(id);
  }

  private async write(id: string, ifMatch: string | undefined, base: string, change: (current: ScimResource) => Record<string, unknown>): Promise<ScimResource> {
    await optimistic(ifMatch, async () => {
      const row = await this.repo.application(id);
      if (!row) throw notFound('AgenticApplication', id);
      checkIfMatch(ifMatch, row.version);
      const next = change(renderApplication(row, base));
      return (await this.repo.updateApplication(id, row.version, applicationFields(next).name, storedApplication(next))) || undefined;
    });
    return this.get(id, base);
  }
}
