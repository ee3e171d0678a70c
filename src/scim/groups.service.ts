// /Groups: memberships the policy reads (`user.groups`). A membership change re-evaluates the
// live grants of the people who joined or left.
import { randomUUID } from 'node:crypto';
import type { SqlClient } from '../db/sql';
import type { IdentityService } from '../identity/identity.service';
import { optimistic, type ScimEndpoint } from './endpoint';
import { groupFields, groupIdFor, renderGroup, storedGroup, type GroupFields } from './group-resource';
import { applyPatch } from './patch';
import type { ListQuery, ScimResource } from './query';
import { invalidValue, notFound } from './scim-error';
import { ScimRepository } from './scim-repository';
import { GROUP } from './schemas';
import { checkIfMatch, requireSchema } from './values';

export class GroupsService implements ScimEndpoint {
  readonly schema = GROUP;
  private readonly repo: ScimRepository;

  constructor(
    private readonly db: SqlClient,
    private readonly identity: IdentityService,
  ) {
    this.repo = new ScimRepository(db);
  }

  async list(q: ListQuery, base: string) {
    const page = await this.repo.listGroups(q);
    return { total: page.total, resources: page.rows.map((r) => renderGroup(r, base)) };
  }

  async get(id: string, base: string): Promise<ScimResource> {
    const row = await this.repo.group(id);
    if (!row) throw notFound('Group', id);
    return renderGroup(row, base);
  }

  async create(body: unknown, base: string): Promise<ScimResource> {
    const resource = requireSchema(body, GROUP);
    const fields = await this.checked(groupFields(resource));
    const wanted = groupIdFor(fields.displayName);
    const id = wanted && !(await this.repo.groupIdTaken(wanted)) ? wanted : randomUUID();
    await this.db.transaction((tx) => this.repo.insertGroup(tx, id, fields.displayName, storedGroup(resource), fields.memberIds));
    await this.identity.groupMembersChanged(fields.memberIds, `group-${id}-v1`);
    return this.get(id, base);
  }

  replace(id: string, body: unknown, ifMatch: string | undefined, base: string): Promise<ScimResource> {
    const resource = requireSchema(body, GROUP);
    return this.write(id, ifMatch, base, () => resource);
  }

  patch(id: string, body: unknown, ifMatch: string | undefined, base: string): Promise<ScimResource> {
    return this.write(id, ifMatch, base, (current) => applyPatch(current, body, GROUP));
  }

  async delete(id: string, ifMatch: string | undefined): Promise<void> {
    const row = await this.repo.group(id);
    if (!row) throw notFound('Group', id);
    checkIfMatch(ifMatch, row.version);
    const members = await this.db.transaction((tx) => this.repo.deleteGroup(tx, id));
    await this.identity.groupMembersChanged(members, `group-${id}-deleted-v${row.version}`);
  }

  private async write(id: string, ifMatch: string | undefined, base: string, change: (current: ScimResource) => Record<string, unknown>): Promise<ScimResource> {
    const { changed, version } = await optimistic(ifMatch, async () => {
      const row = await this.repo.group(id);
      if (!row) throw notFound('Group', id);
      checkIfMatch(ifMatch, row.version);
      const next = change(renderGroup(row, base));
      const fields = await this.checked(groupFields(next));
      const result = await this.db.transaction((tx) => this.repo.updateGroup(tx, id, row.version, fields.displayName, storedGroup(next), fields.memberIds));
      return result && { changed: [...result.added, ...result.removed], version: row.version + 1 };
    });
    await this.identity.groupMembersChanged(changed, `group-${id}-v${version}`);
    return this.get(id, base);
  }

  /** Members must be people in the directory. */
  private async checked(fields: GroupFields): Promise<GroupFields> {
    const known = new Set((await this.repo.existingUsers(fields.memberIds)).map((u) => u.id));
    const unknown = fields.memberIds.filter((m) => !known.has(m));
    if (unknown.length) throw invalidValue(`Unknown members: ${unknown.join(', ')}.`);
    return fields;
  }
}
