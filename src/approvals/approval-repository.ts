// Held calls (approvals and person confirmations) as the API sees them: the projection the task
// workflow writes, read by the Slack handler (who may answer, which workflow) and GET /v1/tasks.
import type { SqlClient } from '../db/sql';

export type HoldStatus = 'pending' | 'approved' | 'denied' | 'timed_out' | 'cancelled';

export interface HoldRecord {
  approvalId: string;
  kind: 'approval' | 'confirmation';
  taskId: string;
  callId: string;
  toolId: string;
  digest: string;
  policyVersion: string;
  route?: string;
  step: number;
  approverIds: string[];
  messages: { channel: string; ts: string; approverId: string }[];
  deadline?: string;
  status: HoldStatus;
  decidedBy?: string;
  choice?: string;
  decidedAt?: string;
  createdAt: string;
}

interface Row {
  approval_id: string;
  kind: HoldRecord['kind'];
  task_id: string;
  call_id: string;
  tool_id: string;
  digest: string;
  policy_version: string;
  route: string | null;
  step: number;
  approver_ids: string[];
  messages: HoldRecord['messages'];
  deadline: Date | string | null;
  status: HoldStatus;
  decided_by: string | null;
  choice: string | null;
  decided_at: Date | string | null;
  created_at: Date | string;
}

const iso = (d: Date | string | null) => (d ? new Date(d).toISOString() : undefined);

function toHold(r: Row): HoldRecord {
  return {
    approvalId: r.approval_id,
    kind: r.kind,
    taskId: r.task_id,
    callId: r.call_id,
    toolId: r.tool_id,
    digest: r.digest,
    policyVersion: r.policy_version,
    route: r.route ?? undefined,
    step: r.step,
    approverIds: r.approver_ids,
    messages: r.messages,
    deadline: iso(r.deadline),
    status: r.status,
    decidedBy: r.decided_by ?? undefined,
    choice: r.choice ?? undefined,
    decidedAt: iso(r.decided_at),
    createdAt: iso(r.created_at)!,
  };
}

export class ApprovalRepository {
  constructor(private readonly db: SqlClient) {}

  async get(approvalId: string): Promise<HoldRecord | undefined> {
    const [row] = await this.db.query<Row>('select * from approvals where approval_id = $1', [approvalId]);
    return row && toHold(row);
  }

  async pendingOfTask(taskId: string): Promise<HoldRecord[]> {
    const rows = await this.db.query<Row>("select * from approvals where task_id = $1 and status = 'pending' order by created_at", [taskId]);
    return rows.map(toHold);
  }

  /** Pending holds where this person may answer now (offboarding moves them on). */
  async pendingFor(personId: string): Promise<HoldRecord[]> {
    const rows = await this.db.query<Row>("select * from approvals where status = 'pending' and approver_ids ? $1", [personId]);
    return rows.map(toHold);
  }

  async open(tx: SqlClient, h: Pick<HoldRecord, 'approvalId' | 'kind' | 'taskId' | 'callId' | 'toolId' | 'digest' | 'policyVersion' | 'route'>): Promise<boolean> {
    const rows = await tx.query(
      `insert into approvals (approval_id, kind, task_id, call_id, tool_id, digest, policy_version, route)
       values ($1, $2, $3, $4, $5, $6, $7, $8) on conflict do nothing returning approval_id`,
      [h.approvalId, h.kind, h.taskId, h.callId, h.toolId, h.digest, h.policyVersion, h.route ?? null],
    );
    return rows.length > 0;
  }

  async setStep(approvalId: string, step: number, approverIds: string[], deadline: string): Promise<void> {
    await this.db.query('update approvals set step = $2, approver_ids = $3::jsonb, deadline = $4 where approval_id = $1', [
      approvalId,
      step,
      JSON.stringify(approverIds),
      deadline,
    ]);
  }

  /** Who may answer a hold that has no route step (a person's confirmation: the delegating person). */
  async setAnswerers(approvalId: string, approverIds: string[]): Promise<void> {
    await this.db.query('update approvals set approver_ids = $2::jsonb where approval_id = $1', [approvalId, JSON.stringify(approverIds)]);
  }

  async addMessages(approvalId: string, messages: HoldRecord['messages']): Promise<void> {
    await this.db.query('update approvals set messages = messages || $2::jsonb where approval_id = $1', [approvalId, JSON.stringify(messages)]);
  }

  async close(approvalId: string, status: HoldStatus, answer?: { personId: string; choice: string; at: string; jws?: string }): Promise<void> {
    await this.db.query(
      `update approvals set status = $2, decided_by = $3, choice = $4, decided_at = $5, jws = $6
       where approval_id = $1 and status = 'pending'`,
      [approvalId, status, answer?.personId ?? null, answer?.choice ?? null, answer?.at ?? null, answer?.jws ?? null],
    );
  }
}
