// People, groups, agents and standing access, as the policy and routing read them.
import type { SqlClient } from '../db/sql';
import type { PolicyAgent, PolicyUser } from '../policy/bundle';
import type { DirectoryPerson } from './person';

interface UserRow {
  id: string;
  user_name: string;
  display_name: string | null;
  title: string | null;
  department: string | null;
  user_type: string | null;
  manager_id: string | null;
  email: string | null;
  slack_user_id: string | null;
  active: boolean;
  resource: Record<string, unknown>;
  groups: string[] | null;
}

interface AgentRow {
  id: string;
  name: string;
  owner_id: string | null;
  active: boolean;
  orphaned: boolean;
}

const USER_SELECT = `select u.*, (select coalesce(json_agg(gm.group_id order by gm.group_id), '[]'::json)
  from group_members gm where gm.user_id = u.id) as groups from users u`;

export interface SeedPerson {
  id: string;
  userName: string;
  displayName?: string;
  title?: string;
  department?: string;
  userType?: string;
  manager?: string;
  email?: string;
  slackUserId?: string;
  active?: boolean;
  groups?: string[];
  access?: { app: string; entitlement: string }[];
}

export interface SeedAgent {
  id: string;
  name: string;
  owner?: string;
}

export class DirectoryRepository {
  constructor(private readonly db: SqlClient) {}

  async user(id: string): Promise<PolicyUser | undefined> {
    const [row] = await this.db.query<UserRow>(`${USER_SELECT} where u.id = $1`, [id]);
    return row && toPolicyUser(row);
  }

  async person(id: string): Promise<DirectoryPerson | undefined> {
    const [row] = await this.db.query<UserRow>(`${USER_SELECT} where u.id = $1`, [id]);
    return row && toPerson(row);
  }

  async groupMembers(groupId: string): Promise<DirectoryPerson[]> {
    const rows = await this.db.query<UserRow>(
      `${USER_SELECT} where u.id in (select user_id from group_members where group_id = $1) order by u.id`,
      [groupId],
    );
    return rows.map(toPerson);
  }

  async agent(id: string): Promise<PolicyAgent | undefined> {
    const [row] = await this.db.query<AgentRow>('select id, name, owner_id, active, orphaned from agents where id = $1', [id]);
    return row && { id: row.id, name: row.name, owner: row.owner_id ?? undefined, active: row.active && !row.orphaned, orphaned: row.orphaned };
  }

  /** The person (not deleted) with this email, case-insensitively; HR systems name people by email. */
  async userIdByEmail(email: string): Promise<string | undefined> {
    const [row] = await this.db.query<{ id: string }>('select id from users where lower(email) = lower($1) and deleted_at is null order by id limit 1', [email]);
    return row?.id;
  }

  async hasAccess(userId: string, appId: string, entitlementId: string): Promise<boolean> {
    const rows = await this.db.query('select 1 from person_access where user_id = $1 and app_id = $2 and entitlement_id = $3', [
      userId,
      appId,
      entitlementId,
    ]);
    return rows.length > 0;
  }

  /** Loads example people and agents (governance/directory.yaml) into an empty directory. */
  async seed(people: SeedPerson[], agents: SeedAgent[]): Promise<boolean> {
    return this.db.transaction(async (tx) => {
      const [{ n }] = await tx.query<{ n: number }>('select count(*)::int as n from users');
      if (n > 0) return false;
      for (const p of people) {
        await tx.query(
          `insert into users (id, user_name, display_name, title, department, user_type, manager_id, email, slack_user_id, active)
           values ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10)`,
          [p.id, p.userName, p.displayName, p.title, p.department, p.userType, p.manager, p.email, p.slackUserId, p.active ?? true],
        );
        for (const g of p.groups ?? []) {
          await tx.query('insert into groups (id, display_name) values ($1, $1) on conflict do nothing', [g]);
          await tx.query('insert into group_members (group_id, user_id) values ($1, $2)', [g, p.id]);
        }
        for (const a of p.access ?? []) {
          await tx.query('insert into person_access (user_id, app_id, entitlement_id) values ($1, $2, $3)', [p.id, a.app, a.entitlement]);
        }
      }
      for (const a of agents) {
        await tx.query('insert into agents (id, name, owner_id) values ($1, $2, $3)', [a.id, a.name, a.owner]);
      }
      return true;
    });
  }
}

function toPolicyUser(r: UserRow): PolicyUser {
  return {
    ...r.resource,
    id: r.id,
    userName: r.user_name,
    displayName: r.display_name ?? undefined,
    userType: r.user_type ?? undefined,
    title: r.title ?? undefined,
    department: r.department ?? undefined,
    manager: r.manager_id ?? undefined,
    active: r.active,
    emails: r.email ? [{ value: r.email, type: 'work', primary: true }] : [],
    groups: r.groups ?? [],
  };
}

function toPerson(r: UserRow): DirectoryPerson {
  return {
    id: r.id,
    userName: r.user_name,
    displayName: r.display_name ?? undefined,
    title: r.title ?? undefined,
    department: r.department ?? undefined,
    manager: r.manager_id ?? undefined,
    email: r.email ?? undefined,
    slackUserId: r.slack_user_id ?? undefined,
    active: r.active,
    groups: r.groups ?? [],
  };
}
