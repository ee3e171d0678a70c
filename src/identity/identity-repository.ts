// What offboarding and the movers path read and write: a person's running tasks and live grants,
// approvals they answer, agents they own, offboardings and their traces.
import type { SqlClient } from '../db/sql';

export type OffboardingTrigger = 'hr' | 'scim_patch' | 'scim_delete';

export interface TaskRef {
  taskId: string;
  workflowId: string;
}

export interface ApprovalRef extends TaskRef {
  approvalId: string;
}

export interface Offboarding {
  offboardingId: string;
  userId: string;
  trigger: OffboardingTrigger;
  startedAt?: string;
  completedAt?: string;
  summaryTraceId?: string;
}

interface OffboardingRow {
  offboarding_id: string;
  user_id: string;
  trigger: OffboardingTrigger;
  started_at: Date | string | null;
  completed_at: Date | string | null;
  summary_trace_id: string | null;
}

const iso = (d: Date | string | null) => (d ? new Date(d).toISOString() : undefined);

/** Deterministic per person and event, so a retried trigger finds the same workflow. */
export const offboardingId = (userId: string, eventId: string) => `offboarding-${userId}-${eventId}`;

export class IdentityRepository {
  constructor(private readonly db: SqlClient) {}

  /** Marks the person inactive (every new decision for them is denied from here on). */
  async deactivate(tx: SqlClient, userId: string, opts: { delete?: boolean } = {}): Promise<boolean> {
    const rows = await tx.query(
      `update users set active = false, resource = resource || '{"active": false}'::jsonb, version = version + 1, updated_at = now(),
         deleted_at = case when $2 then coalesce(deleted_at, now()) else deleted_at end
       where id = $1 and deleted_at is null returning id`,
      [userId, opts.delete ?? false],
    );
    // A deleted person leaves their groups (SCIM shows no dangling members).
    if (rows.length && opts.delete) await tx.query('delete from group_members where user_id = $1', [userId]);
    return rows.length > 0;
  }

  /** Recorded in the deactivating transaction; the workflow is started after it commits. */
  async requestOffboarding(tx: SqlClient, o: { offboardingId: string; userId: string; trigger: OffboardingTrigger }): Promise<void> {
    await tx.query('insert into offboardings (offboarding_id, user_id, trigger) values ($1, $2, $3) on conflict do nothing', [
      o.offboardingId,
      o.userId,
      o.trigger,
    ]);
  }

  async unstartedOffboardings(userId: string): Promise<Offboarding[]> {
    const rows = await this.db.query<OffboardingRow>('select * from offboardings where user_id = $1 and started_at is null order by requested_at', [userId]);
    return rows.map(toOffboarding);
  }

  async offboarding(id: string): Promise<Offboarding | undefined> {
    const [row] = await this.db.query<OffboardingRow>('select * from offboardings where offboarding_id = $1', [id]);
    return row && toOffboarding(row);
  }

  async markStarted(id: string): Promise<void> {
    await this.db.query('update offboardings set started_at = coalesce(started_at, now()) where offboarding_id = $1', [id]);
  }

  async markCompleted(id: string, summaryTraceId: string): Promise<void> {
    await this.db.query('update offboardings set completed_at = coalesce(completed_at, now()), summary_trace_id = $2 where offboarding_id = $1', [id, summaryTraceId]);
  }

  async activeTasksOf(userId: string): Promise<TaskRef[]> {
    const rows = await this.db.query<{ task_id: string; workflow_id: string }>(
      "select task_id, workflow_id from tasks where user_id = $1 and status = 'active' order by task_id",
      [userId],
    );
    return rows.map((r) => ({ taskId: r.task_id, workflowId: r.workflow_id }));
  }

  /** People with an active task holding a live grant, in id order after `after`: whom a new policy version may take access from. */
  async peopleWithLiveGrants(after = '', limit = 1000): Promise<string[]> {
    const rows = await this.db.query<{ user_id: string }>(
      `select distinct t.user_id from tasks t join grants g on g.task_id = t.task_id
       where t.status = 'active' and g.revoked_at is null and t.user_id > $1 order by t.user_id limit $2`,
      [after, limit],
    );
    return rows.map((r) => r.user_id);
  }

  /** Whether the person has an active task holding a live grant (else a move changes nothing). */
  async hasLiveGrants(userId: string): Promise<boolean> {
    const rows = await this.db.query(
      `select 1 from tasks t join grants g on g.task_id = t.task_id
       where t.user_id = $1 and t.status = 'active' and g.revoked_at is null limit 1`,
      [userId],
    );
    return rows.length > 0;
  }

  /** Tasks still active, or whose collapse has not written every receipt yet. */
  async notCollapsed(taskIds: string[]): Promise<string[]> {
    if (!taskIds.length) return [];
    const rows = await this.db.query<{ task_id: string }>(
      `select t.task_id from tasks t where t.task_id = any($1::text[]) and (t.status = 'active' or exists (
         select 1 from grants g where g.task_id = t.task_id and (g.revoked_at is null or g.revoke_status = 'pending')))
       order by t.task_id`,
      [taskIds],
    );
    return rows.map((r) => r.task_id);
  }

  /** Pending approvals of other people's active tasks that this person may answer now. */
  async approvalsAnsweredBy(personId: string): Promise<ApprovalRef[]> {
    const rows = await this.db.query<{ approval_id: string; task_id: string; workflow_id: string }>(
      `select a.approval_id, a.task_id, t.workflow_id from approvals a join tasks t on t.task_id = a.task_id
       where a.status = 'pending' and a.approver_ids ? $1 and t.user_id <> $1 and t.status = 'active'
       order by a.approval_id`,
      [personId],
    );
    return rows.map((r) => ({ approvalId: r.approval_id, taskId: r.task_id, workflowId: r.workflow_id }));
  }

  /** Flags the person's agents orphaned (denied until an active owner is set); returns all of them. */
  async orphanAgentsOf(userId: string): Promise<string[]> {
    await this.db.query('update agents set orphaned = true, version = version + 1, updated_at = now() where owner_id = $1 and not orphaned', [userId]);
    const rows = await this.db.query<{ id: string }>('select id from agents where owner_id = $1 and orphaned order by id', [userId]);
    return rows.map((r) => r.id);
  }

  /** Revokes one grant in the projection (and its credential reference); false when it was no longer live. */
  async revokeGrant(tx: SqlClient, taskId: string, toolId: string): Promise<boolean> {
    // The task's row lock orders this against a hand-over of access to the task, which checks that
    // its grant is live (ProvisionedAccessRepository.handEntitlementOver): the task's release after
    // this revocation sees access handed over before it.
    await tx.query('select 1 from tasks where task_id = $1 for update', [taskId]);
    const rows = await tx.query(
      "update grants set revoked_at = now(), revoke_status = 'revoked' where task_id = $1 and tool_id = $2 and revoked_at is null returning tool_id",
      [taskId, toolId],
    );
    await tx.query('update credential_refs set revoked_at = now() where task_id = $1 and tool_id = $2 and revoked_at is null', [taskId, toolId]);
    return rows.length > 0;
  }

  async revocationReceipts(taskId: string): Promise<string[]> {
    const rows = await this.db.query<{ trace_id: string }>("select trace_id from decision_traces where task_id = $1 and kind = 'revocation' order by seq", [taskId]);
    return rows.map((r) => r.trace_id);
  }

  /** Offboarding traces already written for this offboarding (a retried activity skips them). */
  async offboardingTraces(userId: string, id: string): Promise<{ traceId: string; taskId?: string }[]> {
    const rows = await this.db.query<{ trace_id: string; task_id: string | null }>(
      `select trace_id, task_id from decision_traces where kind = 'offboarding' and lower(user_id) = lower($1) and body->>'offboardingId' = $2 order by seq`,
      [userId, id],
    );
    return rows.map((r) => ({ traceId: r.trace_id, taskId: r.task_id ?? undefined }));
  }
}

function toOffboarding(r: OffboardingRow): Offboarding {
  return {
    offboardingId: r.offboarding_id,
    userId: r.user_id,
    trigger: r.trigger,
    startedAt: iso(r.started_at),
    completedAt: iso(r.completed_at),
    summaryTraceId: r.summary_trace_id ?? undefined,
  };
}
