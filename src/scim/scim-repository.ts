// SQL for SCIM resources over the directory tables. Lists are filtered, sorted and paged by the
// database (the SCIM filter becomes a parameterized WHERE over a column whitelist).
import { scimFilterToSql, type Column } from '../db/filter-sql';
import type { SqlClient } from '../db/sql';
import type { AgentRow, ApplicationRow } from './agent-resources';
import { AGENT_COLUMNS, APPLICATION_COLUMNS } from './agent-resources';
import { GROUP_COLUMNS, type GroupRow } from './group-resource';
import { orderBy, type ListQuery } from './query';
import { USER_COLUMNS, type UserColumns, type UserRow } from './user-resource';

export interface Page<R> {
  total: number;
  rows: R[];
}

const USER_SELECT = `select u.*, (select coalesce(json_agg(json_build_object('value', g.id, 'display', g.display_name) order by g.id), '[]'::json)
  from group_members gm join groups g on g.id = gm.group_id where gm.user_id = u.id) as groups from users u`;
const GROUP_SELECT = `select g.*, (select coalesce(json_agg(json_build_object('value', gm.user_id, 'display', u.display_name) order by gm.user_id), '[]'::json)
  from group_members gm left join users u on u.id = gm.user_id where gm.group_id = g.id) as members from groups g`;
const AGENT_SELECT = 'select a.* from agents a';
const APPLICATION_SELECT = 'select p.* from agentic_applications p';

const json = (v: unknown) => JSON.stringify(v);

export class ScimRepository {
  constructor(private readonly db: SqlClient) {}

  /** `from` is the table and alias at the end of `select`: counting needs no per-row subqueries. */
  private async page<R>(select: string, from: string, scope: string, columns: Record<string, Column>, idSql: string, q: ListQuery): Promise<Page<R>> {
    const where = q.filter ? scimFilterToSql(q.filter, columns) : { where: 'true', params: [] };
    const [{ n }] = await this.db.query<{ n: number }>(`select count(*)::int as n from ${from} where ${scope} and ${where.where}`, where.params);
    const rows = q.count
      ? await this.db.query<R>(
          `${select} where ${scope} and ${where.where} order by ${orderBy(q, columns, idSql)} limit ${q.count} offset ${q.startIndex - 1}`,
          where.params,
        )
      : [];
    return { total: n, rows };
  }

  // Users -------------------------------------------------------------------------------------

  listUsers(q: ListQuery): Promise<Page<UserRow>> {
    return this.page<UserRow>(USER_SELECT, 'users u', 'u.deleted_at is null', USER_COLUMNS, 'u.id', q);
  }

  async user(id: string, db: SqlClient = this.db): Promise<UserRow | undefined> {
    const [row] = await db.query<UserRow>(`${USER_SELECT} where u.id = $1 and u.deleted_at is null`, [id]);
    return row;
  }

  async userNameTaken(userName: string, exceptId: string, db: SqlClient = this.db): Promise<boolean> {
    const rows = await db.query('select 1 from users where lower(user_name) = lower($1) and deleted_at is null and id <> $2', [userName, exceptId]);
    return rows.length > 0;
  }

  async insertUser(db: SqlClient, id: string, c: UserColumns, resource: Record<string, unknown>): Promise<void> {
    await db.query(
      `insert into users (id, user_name, external_id, display_name, title, department, user_type, manager_id, email, active, resource)
       values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11::jsonb)`,
      [id, c.userName, c.externalId ?? null, c.displayName ?? null, c.title ?? null, c.department ?? null, c.userType ?? null, c.managerId ?? null, c.email ?? null, c.active, json(resource)],
    );
  }

  /** Writes only if the row is still at `version` (optimistic concurrency); false when it moved on. */
  async updateUser(tx: SqlClient, id: string, version: number, c: UserColumns, resource: Record<string, unknown>): Promise<boolean> {
    const rows = await tx.query(
      `update users set user_name = $3, external_id = $4, display_name = $5, title = $6, department = $7, user_type = $8, manager_id = $9,
         email = $10, active = $11, resource = $12::jsonb, version = version + 1, updated_at = now()
       where id = $1 and version = $2 and deleted_at is null returning id`,
      [id, version, c.userName, c.externalId ?? null, c.displayName ?? null, c.title ?? null, c.department ?? null, c.userType ?? null, c.managerId ?? null, c.email ?? null, c.active, json(resource)],
    );
    return rows.length > 0;
  }

  /** Replaces a person's group memberships (groups named but missing are created); returns whether any changed. */
  async setUserGroups(tx: SqlClient, userId: string, groupIds: string[]): Promise<boolean> {
    const before = await tx.query<{ group_id: string }>('select group_id from group_members where user_id = $1', [userId]);
    const had = new Set(before.map((r) => r.group_id));
    const want = new Set(groupIds);
    if (had.size === want.size && [...want].every((g) => had.has(g))) return false;
    for (const g of want) await tx.query('insert into groups (id, display_name) values ($1, $1) on conflict do nothing', [g]);
    await tx.query('delete from group_members where user_id = $1 and not (group_id = any($2::text[]))', [userId, [...want]]);
    for (const g of want) await tx.query('insert into group_members (group_id, user_id) values ($1, $2) on conflict do nothing', [g, userId]);
    await tx.query('update groups set version = version + 1, updated_at = now() where id = any($1::text[])', [[...new Set([...had, ...want])]]);
    return true;
  }

  async existingUsers(ids: string[], db: SqlClient = this.db): Promise<{ id: string; active: boolean }[]> {
    if (!ids.length) return [];
    return db.query<{ id: string; active: boolean }>('select id, active from users where id = any($1::text[]) and deleted_at is null', [ids]);
  }

  // Groups ------------------------------------------------------------------------------------

  listGroups(q: ListQuery): Promise<Page<GroupRow>> {
    return this.page<GroupRow>(GROUP_SELECT, 'groups g', 'true', GROUP_COLUMNS, 'g.id', q);
  }

  async group(id: string, db: SqlClient = this.db): Promise<GroupRow | undefined> {
    const [row] = await db.query<GroupRow>(`${GROUP_SELECT} where g.id = $1`, [id]);
    return row;
  }

  async groupIdTaken(id: string, db: SqlClient = this.db): Promise<boolean> {
    return (await db.query('select 1 from groups where id = $1', [id])).length > 0;
  }

  async insertGroup(tx: SqlClient, id: string, displayName: string, resource: Record<string, unknown>, memberIds: string[]): Promise<void> {
    await tx.query('insert into groups (id, display_name, resource) values ($1, $2, $3::jsonb)', [id, displayName, json(resource)]);
    for (const m of memberIds) await tx.query('insert into group_members (group_id, user_id) values ($1, $2)', [id, m]);
  }

  /** Returns the members added and removed, or undefined when the row moved past `version`. */
  async updateGroup(
    tx: SqlClient,
    id: string,
    version: number,
    displayName: string,
    resource: Record<string, unknown>,
    memberIds: string[],
  ): Promise<{ added: string[]; removed: string[] } | undefined> {
    const updated = await tx.query(
      'update groups set display_name = $3, resource = $4::jsonb, version = version + 1, updated_at = now() where id = $1 and version = $2 returning id',
      [id, version, displayName, json(resource)],
    );
    if (!updated.length) return undefined;
    const before = (await tx.query<{ user_id: string }>('select user_id from group_members where group_id = $1', [id])).map((r) => r.user_id);
    const removed = before.filter((m) => !memberIds.includes(m));
    const added = memberIds.filter((m) => !before.includes(m));
    if (removed.length) await tx.query('delete from group_members where group_id = $1 and user_id = any($2::text[])', [id, removed]);
    for (const m of added) await tx.query('insert into group_members (group_id, user_id) values ($1, $2)', [id, m]);
    return { added, removed };
  }

  /** Deletes the group; returns its former members. */
  async deleteGroup(tx: SqlClient, id: string): Promise<string[]> {
    const members = (await tx.query<{ user_id: string }>('select user_id from group_members where group_id = $1', [id])).map((r) => r.user_id);
    await tx.query('delete from groups where id = $1', [id]);
    return members;
  }

  // Agents ------------------------------------------------------------------------------------

  listAgents(q: ListQuery): Promise<Page<AgentRow>> {
    return this.page<AgentRow>(AGENT_SELECT, 'agents a', 'true', AGENT_COLUMNS, 'a.id', q);
  }

  async agent(id: string, db: SqlClient = this.db): Promise<AgentRow | undefined> {
    const [row] = await db.query<AgentRow>(`${AGENT_SELECT} where a.id = $1`, [id]);
    return row;
  }

  async insertAgent(db: SqlClient, a: { id: string; name: string; ownerId?: string; active: boolean; orphaned: boolean; resource: Record<string, unknown> }): Promise<void> {
    await db.query('insert into agents (id, name, owner_id, active, orphaned, resource) values ($1, $2, $3, $4, $5, $6::jsonb)', [
      a.id,
      a.name,
      a.ownerId ?? null,
      a.active,
      a.orphaned,
      json(a.resource),
    ]);
  }

  async updateAgent(
    tx: SqlClient,
    version: number,
    a: { id: string; name: string; ownerId?: string; active: boolean; orphaned: boolean; resource: Record<string, unknown> },
  ): Promise<boolean> {
    const rows = await tx.query(
      `update agents set name = $3, owner_id = $4, active = $5, orphaned = $6, resource = $7::jsonb, version = version + 1, updated_at = now()
       where id = $1 and version = $2 returning id`,
      [a.id, version, a.name, a.ownerId ?? null, a.active, a.orphaned, json(a.resource)],
    );
    return rows.length > 0;
  }

  async deleteAgent(id: string): Promise<boolean> {
    return (await this.db.query('delete from agents where id = $1 returning id', [id])).length > 0;
  }

  // AgenticApplications -----------------------------------------------------------------------

  listApplications(q: ListQuery): Promise<Page<ApplicationRow>> {
    return this.page<ApplicationRow>(APPLICATION_SELECT, 'agentic_applications p', 'true', APPLICATION_COLUMNS, 'p.id', q);
  }

  async application(id: string): Promise<ApplicationRow | undefined> {
    const [row] = await this.db.query<ApplicationRow>(`${APPLICATION_SELECT} where p.id = $1`, [id]);
    return row;
  }

  async insertApplication(id: string, name: string, resource: Record<string, unknown>): Promise<void> {
    await this.db.query('insert into agentic_applications (id, name, resource) values ($1, $2, $3::jsonb)', [id, name, json(resource)]);
  }

  async updateApplication(id: string, version: number, name: string, resource: Record<string, unknown>): Promise<boolean> {
    const rows = await this.db.query(
      'update agentic_applications set name = $3, resource = $4::jsonb, version = version + 1, updated_at = now() where id = $1 and version = $2 returning id',
      [id, version, name, json(resource)],
    );
    return rows.length > 0;
  }

  async deleteApplication(id: string): Promise<boolean> {
    return (await this.db.query('delete from agentic_applications where id = $1 returning id', [id])).length > 0;
  }
}
