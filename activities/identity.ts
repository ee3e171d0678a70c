// Identity lifecycle activities: what offboarding (leavers) and re-evaluation (movers) read and
// write. Thin adapters over the identity repository, the task projection and the trace store.
import { getClient } from '@temporalio/activity';
import type { TraceStore } from '../src/audit/trace-store';
import type { SqlClient } from '../src/db/sql';
import type { DirectoryRepository } from '../src/directory/directory-repository';
import { IdentityRepository, type ApprovalRef, type TaskRef } from '../src/identity/identity-repository';
import type { PolicyStore } from '../src/policy/policy-store';
import type { TaskRepository } from '../src/tasks/task-repository';
import { taskWorkflowId } from '../workflows/messages';

export type { ApprovalRef, TaskRef };

/** Workflow ids of the person's running task workflows, from Temporal's visibility store. */
export type RunningTaskWorkflows = (userId: string) => Promise<string[]>;

export interface IdentityActivityDeps {
  db: SqlClient;
  tasks: TaskRepository;
  traces: TraceStore;
  directory: Pick<DirectoryRepository, 'user' | 'agent'>;
  policy: Pick<PolicyStore, 'active' | 'refresh'>;
  /** Defaults to the worker's Temporal client (`DelegatorId` search attribute). */
  runningTaskWorkflows?: RunningTaskWorkflows;
}

export interface OffboardedTask {
  taskId: string;
  status: string;
  revoked: string[];
  /** Revocation receipts the task's collapse wrote. */
  receipts: string[];
  traceId: string;
}

export interface OffboardingRecord {
  offboardingId: string;
  userId: string;
  summaryTraceId: string;
  tasks: OffboardedTask[];
  unfinished: string[];
  agentsOrphaned: string[];
  approvalsMoved: ApprovalRef[];
}

export interface MoverRevocation {
  taskId: string;
  toolId: string;
  traceId: string;
  reasonCode?: string;
}

const TASK_WORKFLOW_PREFIX = taskWorkflowId('');

/** Visibility is eventually consistent: a task started a moment ago may be missing here (the projection has it). */
export const temporalRunningTaskWorkflows: RunningTaskWorkflows = async (userId) => {
  // Quotes cannot be escaped in a visibility query; such an id is found through the projection alone.
  if (/['"\\]/.test(userId)) return [];
  const ids: string[] = [];
  const query = `WorkflowType = 'taskWorkflow' AND DelegatorId = '${userId}' AND ExecutionStatus = 'Running'`;
  for await (const wf of getClient().workflow.list({ query })) ids.push(wf.workflowId);
  return ids;
};

export function createIdentityActivities(deps: IdentityActivityDeps) {
  const repo = new IdentityRepository(deps.db);
  const runningTaskWorkflows = deps.runningTaskWorkflows ?? temporalRunningTaskWorkflows;

  return {
    /** A page of the people holding live grants (a policy re-evaluation's fan-out). */
    async peopleWithLiveGrants(input: { after?: string; limit: number }): Promise<string[]> {
      return repo.peopleWithLiveGrants(input.after, input.limit);
    },

    /** The person's running tasks: Temporal's visibility (DelegatorId) united with the projection. */
    async runningTasksOf(input: { userId: string }): Promise<TaskRef[]> {
      const [fromProjection, fromVisibility] = await Promise.all([repo.activeTasksOf(input.userId), runningTaskWorkflows(input.userId)]);
      const byWorkflow = new Map(fromProjection.map((t) => [t.workflowId, t]));
      for (const workflowId of fromVisibility) {
        if (!byWorkflow.has(workflowId) && workflowId.startsWith(TASK_WORKFLOW_PREFIX)) {
          byWorkflow.set(workflowId, { workflowId, taskId: workflowId.slice(TASK_WORKFLOW_PREFIX.length) });
        }
      }
      return [...byWorkflow.values()].sort((a, b) => a.taskId.localeCompare(b.taskId));
    },

    async notCollapsed(input: { taskIds: string[] }): Promise<string[]> {
      return repo.notCollapsed(input.taskIds);
    },

    async approvalsAnsweredBy(input: { personId: string }): Promise<ApprovalRef[]> {
      return repo.approvalsAnsweredBy(input.personId);
    },

    async orphanAgentsOf(input: { userId: string }): Promise<string[]> {
      return repo.orphanAgentsOf(input.userId);
    },

    /**
     * One `offboarding` trace per task (naming the task's revocation receipts) and one summary.
     * Idempotent: a retry writes only what is missing.
     */
    async recordOffboarding(input: {
      offboardingId: string;
      userId: string;
      by: string;
      taskIds: string[];
      unfinished: string[];
      agentsOrphaned: string[];
      approvalsMoved: ApprovalRef[];
    }): Promise<OffboardingRecord> {
      const { offboardingId, userId, by } = input;
      const written = await repo.offboardingTraces(userId, offboardingId);
      const tasks: OffboardedTask[] = [];
      for (const taskId of input.taskIds) {
        const task = await deps.tasks.get(taskId);
        const grants = await deps.tasks.grants(taskId);
        const entry = {
          taskId,
          status: task?.status ?? 'unknown',
          revoked: grants.filter((g) => g.revokedAt).map((g) => g.toolId),
          receipts: await repo.revocationReceipts(taskId),
        };
        const traceId =
          written.find((w) => w.taskId === taskId)?.traceId ??
          (await deps.traces.append({ kind: 'offboarding', body: { offboardingId, userId, agentId: task?.agentId, by, ...entry } })).traceId;
        tasks.push({ ...entry, traceId });
      }
      const summary =
        written.find((w) => !w.taskId)?.traceId ??
        (
          await deps.traces.append({
            kind: 'offboarding',
            body: {
              userId,
              offboardingId,
              by,
              tasks: tasks.map(({ taskId, status, revoked, traceId }) => ({ taskId, status, revoked, traceId })),
              unfinished: input.unfinished,
              agentsOrphaned: input.agentsOrphaned,
              approvalsMoved: input.approvalsMoved.map(({ approvalId, taskId }) => ({ approvalId, taskId })),
            },
          })
        ).traceId;
      await repo.markCompleted(offboardingId, summary);
      return { offboardingId, userId, summaryTraceId: summary, tasks, unfinished: input.unfinished, agentsOrphaned: input.agentsOrphaned, approvalsMoved: input.approvalsMoved };
    },

    /**
     * Movers: every live grant of the person's active tasks, decided again with their current
     * directory attributes and the active policy. A grant the policy now denies is revoked in the
     * projection with a `revocation` trace (`mover_reevaluation`); the rest stay. The gateway's
     * next call on a revoked tool goes to the task workflow, which decides it afresh.
     */
    async reevaluateGrants(input: { userId: string; cause: string }): Promise<MoverRevocation[]> {
      // A version another replica activated a moment ago (a reload's re-evaluation) is decided with.
      await deps.policy.refresh();
      const policy = deps.policy.active();
      const user = await deps.directory.user(input.userId);
      const revoked: MoverRevocation[] = [];
      const time = new Date().toISOString();
      for (const ref of await repo.activeTasksOf(input.userId)) {
        const task = await deps.tasks.get(ref.taskId);
        if (!task || task.status !== 'active') continue;
        const agent = await deps.directory.agent(task.agentId);
        for (const grant of await deps.tasks.grants(task.taskId)) {
          if (grant.revokedAt) continue;
          // Grant-level question: may this person's agent hold the tool at all? The arguments of
          // each call are checked when it is made, so they are not part of it.
          const d =
            !user || !user.active
              ? { decision: 'deny' as const, reason: { code: 'user_inactive', message: 'The delegating person is not active.' }, rules: [], policyVersion: policy.version }
              : !agent || agent.active === false
                ? { decision: 'deny' as const, reason: { code: 'agent_inactive', message: 'The agent is inactive or has no active owner.' }, rules: [], policyVersion: policy.version }
                : policy.evaluate({ user, agent, toolId: grant.toolId, session: task.session, taskId: task.taskId, time }, undefined, { argumentsChecked: true });
          if (d.decision !== 'deny') continue;
          let changed = false;
          const record = await deps.traces.append(
            {
              kind: 'revocation',
              body: {
                taskId: task.taskId,
                userId: task.userId,
                agentId: task.agentId,
                toolId: grant.toolId,
                appId: grant.appId,
                grantedVia: grant.via,
                grantedAt: grant.grantedAt,
                revocation: 'mover_reevaluation',
                cause: input.cause,
                reasonCode: d.reason?.code,
                reasonMessage: d.reason?.message,
                policyVersion: d.policyVersion,
                rules: d.rules,
                snapshot: user && { user: { id: user.id, userType: user.userType, title: user.title, department: user.department, manager: user.manager, groups: user.groups } },
              },
              // Its time is its append's, just before it takes effect, not the loop's start: the loop
              // over the person's tasks, one commit each, can take seconds under load.
            },
            {
              within: async (tx) => {
                changed = await repo.revokeGrant(tx, task.taskId, grant.toolId);
              },
            },
          );
          if (changed) revoked.push({ taskId: task.taskId, toolId: grant.toolId, traceId: record.traceId, reasonCode: d.reason?.code });
        }
      }
      return revoked;
    },
  };
}

export type IdentityActivities = ReturnType<typeof createIdentityActivities>;
