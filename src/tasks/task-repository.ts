// The projection of each task's context (written by the task workflow's activities, read by the API).
import type { SqlClient } from '../db/sql';
import type { ContextEntry, GrantVia, TaskStatus } from '../../workflows/messages';
import { emptySession, type SessionState } from '../policy/session';

export interface TaskRecord {
  taskId: string;
  tenant: string;
  userId: string;
  agentId: string;
  purpose?: string;
  status: TaskStatus;
  workflowId: string;
  createdAt: string;
  expiresAt: string;
  endedAt?: string;
  endedReason?: string;
  session: SessionState;
}

export interface GrantRecord extends ContextEntry {
  taskId: string;
  revokedAt?: string;
  revokeStatus?: string;
}

/** What an in-context call is decided from: the task, its live grants and their credential references. */
export interface TaskView {
  task: TaskRecord;
  live: Map<string, { grant: GrantRecord; credentialRefId?: string }>;
}

interface TaskRow {
  task_id: string;
  tenant: string;
  user_id: string;
  agent_id: string;
  purpose: string | null;
  status: TaskStatus;
  workflow_id: string;
  created_at: Date | string;
  expires_at: Date | string;
  ended_at: Date | string | null;
  ended_reason: string | null;
  session: Partial<SessionState>;
}

interface GrantRow {
  task_id: string;
  tool_id: string;
  app_id: string;
  via: GrantVia;
  granted_at: Date | string;
  expires_at: Date | string | null;
  revoked_at: Date | string | null;
  revoke_status: string | null;
}

const iso = (d: Date | string) => new Date(d).toISOString();

export class TaskRepository {
  constructor(private readonly db: SqlClient) {}

  /** Inserts the task unless it exists; returns the stored one either way. */
  async create(t: Omit<TaskRecord, 'status' | 'session' | 'endedAt' | 'endedReason'>): Promise<{ task: TaskRecord; created: boolean }> {
    const inserted = await this.db.query<TaskRow>(
      `insert into tasks (task_id, tenant, user_id, agent_id, purpose, status, workflow_id, created_at, expires_at)
       values ($1, $2, $3, $4, $5, 'active', $6, $7, $8) on conflict (task_id) do nothing returning *`,
      [t.taskId, t.tenant, t.userId, t.agentId, t.purpose ?? null, t.workflowId, t.createdAt, t.expiresAt],
    );
    if (inserted[0]) return { task: toTask(inserted[0]), created: true };
    return { task: (await this.get(t.taskId))!, created: false };
  }

  async get(taskId: string, db: SqlClient = this.db): Promise<TaskRecord | undefined> {
    const [row] = await db.query<TaskRow>('select * from tasks where task_id = $1', [taskId]);
    return row && toTask(row);
  }

  /** The task and its live grants in one statement (one snapshot: never a grant without its task's status). */
  async view(taskId: string): Promise<TaskView | undefined> {
    const [row] = await this.db.query<TaskRow & { live: (GrantRow & { ref_id: string | null })[] | null }>(
      `select t.*, (select json_agg(json_build_object('task_id', g.task_id, 'tool_id', g.tool_id, 'app_id', g.app_id, 'via', g.via,
                 'granted_at', g.granted_at, 'expires_at', g.expires_at, 'revoked_at', g.revoked_at, 'revoke_status', g.revoke_status,
                 'ref_id', (select r.ref_id from credential_refs r where r.task_id = g.task_id and r.tool_id = g.tool_id
                            and r.revoked_at is null and r.expires_at > now() limit 1)))
               from grants g where g.task_id = t.task_id and g.revoked_at is null) as live
       from tasks t where t.task_id = $1`,
      [taskId],
    );
    if (!row) return undefined;
    const live = new Map((row.live ?? []).map((g) => [g.tool_id, { grant: toGrant(g), credentialRefId: g.ref_id ?? undefined }]));
    return { task: toTask(row), live };
  }

  /** Whether the task's grant of the tool is live (not revoked, by a collapse or a mover's re-evaluation). */
  async grantLive(taskId: string, toolId: string): Promise<boolean> {
    const rows = await this.db.query('select 1 from grants where task_id = $1 and tool_id = $2 and revoked_at is null', [taskId, toolId]);
    return rows.length > 0;
  }

  /**
   * The agent already holds this access for this person: a live grant, in an active task, of one of
   * `toolIds` (the app's tools that need the same entitlement; a grant of another entitlement of the
   * same app does not count).
   */
  async agentHolds(agentId: string, userId: string, appId: string, toolIds: string[]): Promise<boolean> {
    const rows = await this.db.query(
      `select 1 from grants g join tasks t on t.task_id = g.task_id
       where t.agent_id = $1 and t.user_id = $2 and t.status = 'active' and g.app_id = $3 and g.tool_id = any($4::text[])
         and g.revoked_at is null limit 1`,
      [agentId, userId, appId, toolIds],
    );
    return rows.length > 0;
  }

  async grants(taskId: string, db: SqlClient = this.db): Promise<GrantRecord[]> {
    const rows = await db.query<GrantRow>('select * from grants where task_id = $1 order by granted_at, tool_id', [taskId]);
    return rows.map(toGrant);
  }

  async insertGrant(tx: SqlClient, g: GrantRecord): Promise<void> {
    await tx.query(
      `insert into grants (task_id, tool_id, app_id, via, granted_at, expires_at) values ($1, $2, $3, $4, $5, $6)
       on conflict (task_id, tool_id) do update set via = excluded.via, granted_at = excluded.granted_at,
         expires_at = excluded.expires_at, revoked_at = null, revoke_status = null`,
      [g.taskId, g.toolId, g.appId, g.via, g.grantedAt, g.expiresAt ?? null],
    );
  }

  /**
   * The revocation mark, written first when a task collapses: the task stops being active and
   * every live grant is marked revoked, so the very next call is denied whatever happens after.
   * Returns the grants whose revocation is still to be finished.
   */
  async markCollapsed(tx: SqlClient, taskId: string, status: Exclude<TaskStatus, 'active'>, reason: string): Promise<GrantRecord[]> {
    await tx.query(
      `update tasks set status = $2, ended_at = coalesce(ended_at, now()), ended_reason = coalesce(ended_reason, $3)
       where task_id = $1 and status = 'active'`,
      [taskId, status, reason],
    );
    await tx.query(`update grants set revoked_at = now(), revoke_status = 'pending' where task_id = $1 and revoked_at is null`, [taskId]);
    // Pending ones, including those a crashed earlier attempt marked but did not finish.
    const rows = await tx.query<GrantRow>(`select * from grants where task_id = $1 and revoke_status = 'pending' order by tool_id`, [taskId]);
    return rows.map(toGrant);
  }

  async setRevokeStatus(tx: SqlClient, taskId: string, toolId: string, status: 'revoked' | 'revoke_failed'): Promise<void> {
    await tx.query('update grants set revoke_status = $3 where task_id = $1 and tool_id = $2', [taskId, toolId, status]);
  }
}

export interface ProvisionedAccess {
  taskId: string;
  appId: string;
  entitlementId: string;
  accountId: string;
  accountCreated: boolean;
  entitlementGranted: boolean;
  revokedAt?: string;
  revokeStatus?: string;
  lastError?: string;
}

/** What other tasks rely on in an app (ProvisionedAccessRepository.reliedOnElsewhere). */
export interface ReliedOn {
  grants: { taskId: string; toolId: string; appId: string }[];
  records: { taskId: string; appId: string; entitlementId: string; accountId: string }[];
}

/** The receiving task no longer qualifies (ended, or its grant or record is gone): nothing was handed over. */
export class NotHandedOver extends Error {
  constructor(readonly taskId: string) {
    super(`Task ${taskId} no longer relies on the access`);
    this.name = 'NotHandedOver';
  }
}

interface JitRow {
  task_id: string;
  app_id: string;
  entitlement_id: string;
  account_id: string;
  account_created: boolean;
  entitlement_granted: boolean;
  revoked_at: Date | string | null;
  revoke_status: string | null;
  last_error: string | null;
}

function toProvisioned(r: JitRow): ProvisionedAccess {
  return {
    taskId: r.task_id,
    appId: r.app_id,
    entitlementId: r.entitlement_id,
    accountId: r.account_id,
    accountCreated: r.account_created,
    entitlementGranted: r.entitlement_granted,
    revokedAt: r.revoked_at ? iso(r.revoked_at) : undefined,
    revokeStatus: r.revoke_status ?? undefined,
    lastError: r.last_error ?? undefined,
  };
}

/** What just-in-time provisioning created for tasks, so collapse removes exactly that. */
export class ProvisionedAccessRepository {
  constructor(private readonly db: SqlClient) {}

  async record(tx: SqlClient, p: Omit<ProvisionedAccess, 'revokedAt' | 'revokeStatus' | 'lastError'>): Promise<void> {
    // A second grant of the same entitlement in a task keeps what the first one created; one after a
    // mover's release, or after the task handed the access over to another, grants it again.
    await tx.query(
      `insert into jit_grants (task_id, app_id, entitlement_id, account_id, account_created, entitlement_granted)
       values ($1, $2, $3, $4, $5, $6)
       on conflict (task_id, app_id, entitlement_id) do update set
         account_created = jit_grants.account_created or excluded.account_created,
         entitlement_granted = jit_grants.entitlement_granted or excluded.entitlement_granted,
         revoked_at = case when excluded.entitlement_granted then null else jit_grants.revoked_at end,
         revoke_status = case when excluded.entitlement_granted then null else jit_grants.revoke_status end,
         last_error = case when excluded.entitlement_granted then null else jit_grants.last_error end`,
      [p.taskId, p.appId, p.entitlementId, p.accountId, p.accountCreated, p.entitlementGranted],
    );
  }

  /** The task's record of one app entitlement, if any. */
  async one(taskId: string, appId: string, entitlementId: string): Promise<ProvisionedAccess | undefined> {
    const [row] = await this.db.query<JitRow>('select * from jit_grants where task_id = $1 and app_id = $2 and entitlement_id = $3', [taskId, appId, entitlementId]);
    return row && toProvisioned(row);
  }

  async ofTask(taskId: string, db: SqlClient = this.db): Promise<ProvisionedAccess[]> {
    const rows = await db.query<JitRow>('select * from jit_grants where task_id = $1 order by created_at, app_id', [taskId]);
    return rows.map(toProvisioned);
  }

  async markRevoked(tx: SqlClient, taskId: string, appId: string, entitlementId: string): Promise<void> {
    await tx.query(
      `update jit_grants set revoked_at = now(), revoke_status = 'revoked', last_error = null
       where task_id = $1 and app_id = $2 and entitlement_id = $3`,
      [taskId, appId, entitlementId],
    );
  }

  /** The entitlement was removed after a mover's revocation; the account stays for the collapse. */
  async markReleased(tx: SqlClient, taskId: string, appId: string, entitlementId: string): Promise<void> {
    await tx.query(
      `update jit_grants set entitlement_granted = false, revoke_status = 'released', last_error = null
       where task_id = $1 and app_id = $2 and entitlement_id = $3 and revoked_at is null`,
      [taskId, appId, entitlementId],
    );
  }

  /**
   * What the person's other active tasks rely on in these apps: their live grants (each needs its
   * tool's entitlement) and the memberships JIT granted them (each on an account). Oldest task first.
   */
  async reliedOnElsewhere(userId: string, exceptTaskId: string, appIds: string[]): Promise<ReliedOn> {
    const [grants, records] = await Promise.all([
      this.db.query<{ task_id: string; tool_id: string; app_id: string }>(
        `select g.task_id, g.tool_id, g.app_id from grants g join tasks t on t.task_id = g.task_id
         where t.user_id = $1 and t.status = 'active' and t.task_id <> $2 and g.app_id = any($3::text[]) and g.revoked_at is null
         order by t.created_at, g.task_id, g.tool_id`,
        [userId, exceptTaskId, appIds],
      ),
      this.recordsElsewhere(userId, exceptTaskId, appIds),
    ]);
    return { grants: grants.map((g) => ({ taskId: g.task_id, toolId: g.tool_id, appId: g.app_id })), records };
  }

  /** The JIT records of reliedOnElsewhere alone. */
  async recordsElsewhere(userId: string, exceptTaskId: string, appIds: string[]): Promise<ReliedOn['records']> {
    const records = await this.db.query<{ task_id: string; app_id: string; entitlement_id: string; account_id: string }>(
      `select j.task_id, j.app_id, j.entitlement_id, j.account_id from jit_grants j join tasks t on t.task_id = j.task_id
       where t.user_id = $1 and t.status = 'active' and t.task_id <> $2 and j.app_id = any($3::text[])
         and j.revoked_at is null and j.entitlement_granted
       order by t.created_at, j.task_id, j.entitlement_id`,
      [userId, exceptTaskId, appIds],
    );
    return records.map((r) => ({ taskId: r.task_id, appId: r.app_id, entitlementId: r.entitlement_id, accountId: r.account_id }));
  }

  /**
   * Hands a task's JIT entitlement over to another active task of the person, one of whose live
   * grants (`toolIds`) needs it: the access stays in the target and is the other task's to remove;
   * the account's deactivation goes with it when the giving task created the account. Checked under
   * the receiving task's row lock, which its collapse and a mover's revocation take too: access is
   * never handed to a task that has already read what it must remove. Throws NotHandedOver otherwise.
   */
  async handEntitlementOver(tx: SqlClient, from: ProvisionedAccess, toTaskId: string, toolIds: string[]): Promise<{ accountMoved: boolean }> {
    await this.lockReceiver(
      tx,
      toTaskId,
      'exists (select 1 from grants g where g.task_id = t.task_id and g.tool_id = any($2::text[]) and g.revoked_at is null)',
      [toolIds],
    );
    const [{ account_moved }] = await tx.query<{ account_moved: boolean }>(
      `with owned as (
         update jit_grants set account_created = false
         where task_id = $1 and app_id = $3 and account_id = $4 and account_created and revoked_at is null returning 1),
       given as (
         insert into jit_grants (task_id, app_id, entitlement_id, account_id, account_created, entitlement_granted)
         values ($2, $3, $5, $4, exists (select 1 from owned), true)
         on conflict (task_id, app_id, entitlement_id) do update set
           account_created = jit_grants.account_created or excluded.account_created,
           entitlement_granted = true, revoked_at = null, revoke_status = null, last_error = null
         returning 1)
       select exists (select 1 from owned) as account_moved, (select count(*) from given) as given`,
      [from.taskId, toTaskId, from.appId, from.accountId, from.entitlementId],
    );
    await this.markHandedOver(tx, from);
    return { accountMoved: account_moved };
  }

  /**
   * Hands the deactivation of an account the task created over to another active task of the
   * person holding live JIT access on the same account (`to`, one of its records there), under the
   * same lock as handEntitlementOver.
   */
  async handAccountOver(tx: SqlClient, from: ProvisionedAccess, to: { taskId: string; entitlementId: string }): Promise<void> {
    await this.lockReceiver(
      tx,
      to.taskId,
      `exists (select 1 from jit_grants j where j.task_id = t.task_id and j.app_id = $2 and j.entitlement_id = $3 and j.account_id = $4
         and j.revoked_at is null and j.entitlement_granted)`,
      [from.appId, to.entitlementId, from.accountId],
    );
    await tx.query(
      `update jit_grants set account_created = false where task_id = $1 and app_id = $2 and account_id = $3 and revoked_at is null`,
      [from.taskId, from.appId, from.accountId],
    );
    await tx.query('update jit_grants set account_created = true where task_id = $1 and app_id = $2 and entitlement_id = $3', [to.taskId, from.appId, to.entitlementId]);
  }

  private async lockReceiver(tx: SqlClient, taskId: string, condition: string, params: unknown[]): Promise<void> {
    const rows = await tx.query(`select 1 from tasks t where t.task_id = $1 and t.status = 'active' and ${condition} for update of t`, [taskId, ...params]);
    if (!rows.length) throw new NotHandedOver(taskId);
  }

  private async markHandedOver(tx: SqlClient, p: ProvisionedAccess): Promise<void> {
    await tx.query(
      `update jit_grants set revoked_at = now(), revoke_status = 'handed_over', last_error = null
       where task_id = $1 and app_id = $2 and entitlement_id = $3`,
      [p.taskId, p.appId, p.entitlementId],
    );
  }

  async markFailed(tx: SqlClient, taskId: string, appId: string, entitlementId: string, error: string): Promise<void> {
    await tx.query(
      `update jit_grants set revoke_status = 'revoke_failed', last_error = $4
       where task_id = $1 and app_id = $2 and entitlement_id = $3 and revoked_at is null`,
      [taskId, appId, entitlementId, error],
    );
  }
}

function toTask(r: TaskRow): TaskRecord {
  return {
    taskId: r.task_id,
    tenant: r.tenant,
    userId: r.user_id,
    agentId: r.agent_id,
    purpose: r.purpose ?? undefined,
    status: r.status,
    workflowId: r.workflow_id,
    createdAt: iso(r.created_at),
    expiresAt: iso(r.expires_at),
    endedAt: r.ended_at ? iso(r.ended_at) : undefined,
    endedReason: r.ended_reason ?? undefined,
    session: { ...emptySession(), ...r.session },
  };
}

function toGrant(r: GrantRow): GrantRecord {
  return {
    taskId: r.task_id,
    toolId: r.tool_id,
    appId: r.app_id,
    via: r.via,
    grantedAt: iso(r.granted_at),
    expiresAt: r.expires_at ? iso(r.expires_at) : undefined,
    revokedAt: r.revoked_at ? iso(r.revoked_at) : undefined,
    revokeStatus: r.revoke_status ?? undefined,
  };
}
