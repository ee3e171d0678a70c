// /Users: people from the IdP. Changes go through the identity service (movers re-evaluate
// grants, `active: false` and DELETE offboard); reads and creates are plain SQL.
import { randomUUID } from 'node:crypto';
import type { SqlClient } from '../db/sql';
import type { IdentityService } from '../identity/identity.service';
import type { ScimEndpoint } from './endpoint';
import { applyPatch } from './patch';
import type { ListQuery, ScimResource } from './query';
import { notFound, uniqueness } from './scim-error';
import { ScimRepository } from './scim-repository';
import { USER } from './schemas';
import { renderUser, storedUser, userColumns } from './user-resource';
import { requireSchema } from './values';

export class UsersService implements ScimEndpoint {
  readonly schema = USER;
  private readonly repo: ScimRepository;

  constructor(
    private readonly db: SqlClient,
    private readonly identity: IdentityService,
  ) {
    this.repo = new ScimRepository(db);
  }

  async list(q: ListQuery, base: string) {
    const page = await this.repo.listUsers(q);
    return { total: page.total, resources: page.rows.map((r) => renderUser(r, base)) };
  }

  async get(id: string, base: string): Promise<ScimResource> {
    const row = await this.repo.user(id);
    if (!row) throw notFound('User', id);
    return renderUser(row, base);
  }

  async create(body: unknown, base: string): Promise<ScimResource> {
    const resource = requireSchema(body, USER);
    const cols = userColumns(resource);
    const id = randomUUID();
    if (await this.repo.userNameTaken(cols.userName, id)) throw uniqueness(`userName ${cols.userName} is taken.`);
    try {
      await this.repo.insertUser(this.db, id, cols, storedUser(resource));
    } catch (err) {
      // Two creates of one userName at once: the unique index decides.
      if ((err as { code?: string }).code === '23505') throw uniqueness(`userName ${cols.userName} is taken.`);
      throw err;
    }
    return this.get(id, base);
  }

  async replace(id: string, body: unknown, ifMatch: string | undefined, base: string): Promise<ScimResource> {
    const resource = requireSchema(body, USER);
    // Omitting `active` in a PUT keeps it: a replace never offboards or rehires by accident.
    const changed = await this.identity.updatePerson(id, { change: (current) => ({ active: current.active, ...resource }), ifMatch, source: 'scim', base });
    return renderUser(changed.row, base);
  }

  async patch(id: string, body: unknown, ifMatch: string | undefined, base: string): Promise<ScimResource> {
    const changed = await this.identity.updatePerson(id, { change: (current) => applyPatch(current, body, USER, ['groups']), ifMatch, source: 'scim', base });
    return renderUser(changed.row, base);
  }

  /** DELETE offboards exactly as the HR event does; the row stays (tasks and traces name it) but is gone from SCIM. */
  async delete(id: string, ifMatch: string | undefined): Promise<void> {
    const row = await this.repo.user(id);
    if (!row) throw notFound('User', id);
    await this.identity.offboard(id, { trigger: 'scim_delete', eventId: `scim-delete-v${row.version}`, ifMatch });
  }
}
