// A real (PGlite) database with the Slack tests' people, one task of Alice's and held calls on it.
import { randomUUID } from 'node:crypto';
import { ApprovalRepository } from '../../src/approvals/approval-repository';
import type { EvaluatedPlan } from '../../src/decisions/decision-service';
import { DirectoryRepository } from '../../src/directory/directory-repository';
import { TaskRepository } from '../../src/tasks/task-repository';
import type { ToolCallRequest } from '../../workflows/messages';
import { testDatabase, type TestDatabase } from '../support/databases';
import { EXPORT_TOOL, PEOPLE } from './fixtures';

export interface World {
  database: TestDatabase;
  directory: DirectoryRepository;
  tasks: TaskRepository;
  approvals: ApprovalRepository;
  /** A new active task delegated by `userId` (default alice) to the support agent. */
  task(userId?: string): Promise<string>;
  /** A new held call on the task, recorded as openHold records it. */
  hold(taskId: string, kind?: 'approval' | 'confirmation'): Promise<{ approvalId: string; call: ToolCallRequest; plan: EvaluatedPlan }>;
}

export const DIGEST = `sha256:${'ab'.repeat(32)}`;
export const POLICY_VERSION = `sha256:${'cd'.repeat(32)}`;

export function escalation(): EvaluatedPlan {
  return {
    decision: 'escalate',
    reach: 'person-held',
    digest: DIGEST,
    policyVersion: POLICY_VERSION,
    appId: 'crm',
    actionClass: 'External',
    dataClassification: 'customer',
    rules: [{ id: 'customer-export', mode: 'enforce', outcome: 'escalate' }],
    reason: { code: 'approval_required', message: 'Exports of customer data need a second pair of eyes' },
    route: 'manager-then-security',
    needsConfirmation: false,
    needsApproval: true,
    needsProvisioning: false,
  };
}

export async function openWorld(): Promise<World> {
  const database = await testDatabase('pglite');
  const directory = new DirectoryRepository(database.db);
  await directory.seed(PEOPLE, [{ id: 'support-agent', name: 'Support agent', owner: 'alice' }]);
  const tasks = new TaskRepository(database.db);
  const approvals = new ApprovalRepository(database.db);
  return {
    database,
    directory,
    tasks,
    approvals,
    async task(userId = 'alice') {
      const taskId = `slack-${randomUUID()}`;
      const now = new Date();
      await tasks.create({
        taskId,
        tenant: 'default',
        userId,
        agentId: 'support-agent',
        purpose: 'Renewal outreach for Q3',
        workflowId: `task-${taskId}`,
        createdAt: now.toISOString(),
        expiresAt: new Date(now.getTime() + 3600_000).toISOString(),
      });
      return taskId;
    },
    async hold(taskId, kind = 'approval') {
      const approvalId = randomUUID();
      const call: ToolCallRequest = {
        callId: `call-${randomUUID()}`,
        toolId: EXPORT_TOOL.id,
        arguments: { segment: 'renewals-q3', apiKey: 'sk_live_SECRET123' },
        requestedAt: new Date().toISOString(),
      };
      await approvals.open(database.db, { approvalId, kind, taskId, callId: call.callId, toolId: call.toolId, digest: DIGEST, policyVersion: POLICY_VERSION, route: 'manager-then-security' });
      return { approvalId, call, plan: escalation() };
    },
  };
}
