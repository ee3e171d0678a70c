// Decisions, held calls and collapse: the task workflow's writes to its projection and the trace.
import { ApplicationFailure } from '@temporalio/common';
import type { ApprovalRepository, HoldStatus } from '../src/approvals/approval-repository';
import type { TraceStore } from '../src/audit/trace-store';
import type { CredentialBroker } from '../src/credentials/credential-broker';
import type { DecisionService, EvaluatedCall, EvaluatedPlan } from '../src/decisions/decision-service';
import type { SqlClient } from '../src/db/sql';
import type { Metrics } from '../src/health/metrics';
import type { PolicyStore } from '../src/policy/policy-store';
import type { ProvisionedAccess, ProvisionedAccessRepository, TaskRecord, TaskRepository } from '../src/tasks/task-repository';
import { handOver } from './hand-over';
import { accessBusy, PersonAppLocks, personalAppsOf, REMOVAL_LEASE_SECONDS } from './provisioning/person-app-locks';
import { entitlementStep } from './provisioning/intents';
import { contextEntry, decidedAtOnce } from '../workflows/plan-path';
import type { ApprovalAnswer, CollapseResult, ContextEntry, TaskStatus, ToolCallRequest, ToolCallResult } from '../workflows/messages';

export interface TaskActivityDeps {
  db: SqlClient;
  decisions: DecisionService;
  tasks: TaskRepository;
  provisioned: ProvisionedAccessRepository;
  approvals: ApprovalRepository;
  traces: TraceStore;
  credentials: CredentialBroker;
  metrics: Metrics;
  policy: PolicyStore;
}

type Ended = Exclude<TaskStatus, 'active'>;

export function createTaskActivities(deps: TaskActivityDeps) {
  const locks = new PersonAppLocks(deps.db);

  const task = async (taskId: string) => {
    const t = await deps.tasks.get(taskId);
    if (!t) throw ApplicationFailure.create({ type: 'TaskNotFound', message: `task ${taskId} has no projection`, nonRetryable: true });
    return t;
  };

  const commit = async (t: TaskRecord, input: { call: ToolCallRequest; outcome: EvaluatedCall; grant?: ContextEntry; answers?: ApprovalAnswer[] }) => {
    // An escalation that came back approved is an allow.
    const outcome = input.outcome.decision === 'escalate' ? { ...input.outcome, decision: 'allow' as const } : input.outcome;
    const result = await deps.decisions.commit(t, input.call, outcome, input.grant, input.answers);
    // A credential reference is a bearer handle: it stays out of workflow history, and the API
    // derives it from the trace (which holds only its id).
    delete result.credentialRef;
    return result;
  };

  /**
   * An allow the workflow reached earlier (a held call's re-check at resume, then perhaps minutes of
   * provisioning) is recorded only if the policy, on the person's state now, still does not refuse
   * it: a mover's change or an offboarding committed in between makes it the refusal the policy
   * gives now. The window left is the one every decision has, between reading and recording.
   */
  const stillAllowed = async (t: TaskRecord, call: ToolCallRequest, outcome: EvaluatedCall): Promise<EvaluatedCall> => {
    if (outcome.decision !== 'allow' && outcome.decision !== 'escalate') return outcome;
    if (t.status !== 'active') return { ...outcome, decision: 'deny', reason: { code: 'task_not_active', message: `The task is ${t.status}.` } };
    const now = await deps.decisions.evaluate(t, { ...call, requestedAt: new Date().toISOString() });
    return now.decision === 'deny' || now.decision === 'throttle' ? { ...now, decision: 'deny' } : outcome;
  };

  /**
   * The plan of a call, with the workflow's view of its context checked against the grant rows: a
   * mover's re-evaluation revokes a grant outside the workflow, and the tool then comes back only as
   * a new one (confirmed, approved or provisioned again, as its reach says), never as in context.
   */
  const plan = async (t: TaskRecord, call: ToolCallRequest, inContext: boolean): Promise<EvaluatedPlan> => {
    const revoked = inContext && !(await deps.tasks.grantLive(t.taskId, call.toolId));
    const planned = await deps.decisions.plan(t, call, inContext && !revoked);
    return revoked ? Object.assign(planned, { grantRevoked: true }) : planned;
  };

  /**
   * Access JIT provisioned for the task that no live grant needs (after a mover revoked some). A
   * tool the policy no longer names needs its app's first entitlement, as it did.
   */
  const unneeded = async (taskId: string): Promise<ProvisionedAccess[]> => {
    const policy = deps.policy.active();
    const needed = new Set(
      (await deps.tasks.grants(taskId))
        .filter((g) => !g.revokedAt)
        .map((g) => `${g.appId}\u0000${policy.tool(g.toolId) ? policy.entitlement(g.toolId) : policy.app(g.appId)?.entitlements[0]?.id}`),
    );
    const provisioned = await deps.provisioned.ofTask(taskId);
    return provisioned.filter((p) => !p.revokedAt && p.entitlementGranted && !needed.has(`${p.appId}\u0000${p.entitlementId}`));
  };

  /**
   * The apps with person accounts among the records, each with the person's lock taken for removals
   * (held until the removals decided there are done). While a provisioning step holds one, the
   * activity fails and is retried, and the locks it took go (unless earlier removals keep them).
   */
  const lockedForRemoval = async (t: TaskRecord, records: ProvisionedAccess[]): Promise<string[]> => {
    const apps = personalAppsOf(deps.policy.active(), records);
    for (const appId of apps) {
      if (!(await locks.take(appId, t.userId, t.taskId, 'removal', REMOVAL_LEASE_SECONDS))) {
        await locks.decided(t.taskId, t.userId, apps, []);
        throw accessBusy(`A provisioning step is changing the access of ${t.userId} in ${appId}: ${t.taskId} decides its removals there after it.`);
      }
    }
    return apps;
  };

  /** One decided removal done: the person's lock in the app goes with the last. */
  const removed = async (taskId: string, appId: string, entitlementId: string) => locks.removed(taskId, (await task(taskId)).userId, appId, entitlementId);

  /** A revocation receipt of the task's JIT access, with the write it records. */
  const receipt = async (taskId: string, fields: Record<string, unknown>, within?: (tx: SqlClient) => Promise<void>) => {
    const t = await task(taskId);
    await deps.traces.append({ kind: 'revocation', body: Object.assign({ taskId: t.taskId, userId: t.userId, agentId: t.agentId }, fields) }, { within });
  };

  return {
    /** `approved`: the re-check after a human said yes (hours may have passed; policy and HR state may differ). */
    async evaluateCall(input: { taskId: string; call: ToolCallRequest; inContext: boolean; approved?: boolean }): Promise<EvaluatedPlan> {
      return plan(await task(input.taskId), input.call, input.inContext);
    },

    /**
     * Plans a call and, when the plan decides it at once (a refusal, or a grant the policy alone
     * allows), records the decision as well: one local activity, not two, on the path most new
     * grants take. Otherwise returns the plan only, for the workflow to hold or provision.
     */
    async decideCall(input: { taskId: string; call: ToolCallRequest; inContext: boolean }): Promise<{ plan: EvaluatedPlan; result?: ToolCallResult; grant?: ContextEntry }> {
      const t = await task(input.taskId);
      const planned = await plan(t, input.call, input.inContext);
      if (!decidedAtOnce(planned)) return { plan: planned };
      const entry = input.inContext && !planned.grantRevoked ? undefined : contextEntry(input.call, planned, 'policy');
      const result = await commit(t, { call: input.call, outcome: planned, grant: planned.decision === 'allow' ? entry : undefined });
      // A retry after an attempt that committed is answered with that attempt's decision (the
      // policy may have changed since): the grant follows the decision recorded, not this plan.
      return { plan: planned, result, grant: result.decision === 'allow' ? entry : undefined };
    },

    async commitDecision(input: {
      taskId: string;
      call: ToolCallRequest;
      outcome: EvaluatedCall;
      grant?: ContextEntry;
      answers?: ApprovalAnswer[];
    }): Promise<ToolCallResult> {
      const t = await task(input.taskId);
      const outcome = await stillAllowed(t, input.call, input.outcome);
      return commit(t, { ...input, outcome, grant: outcome === input.outcome ? input.grant : undefined });
    },

    /** Records a held call: an escalation trace and the pending approval, answering `pending`. */
    async openHold(input: { taskId: string; call: ToolCallRequest; approvalId: string; kind: 'approval' | 'confirmation'; plan: EvaluatedPlan }): Promise<ToolCallResult> {
      const t = await task(input.taskId);
      const { call, plan } = input;
      const trace = await deps.traces.append(
        {
          kind: 'escalation',
          occurredAt: call.requestedAt,
          body: {
            taskId: t.taskId,
            callId: call.callId,
            userId: t.userId,
            agentId: t.agentId,
            toolId: call.toolId,
            appId: plan.appId,
            actionClass: plan.actionClass,
            decision: 'pending',
            approvalId: input.approvalId,
            holdKind: input.kind,
            reach: plan.reach,
            route: plan.route,
            reasonCode: plan.reason?.code ?? (input.kind === 'confirmation' ? 'person_confirmation_required' : 'approval_required'),
            reasonMessage: plan.reason?.message,
            policyVersion: plan.policyVersion,
            rules: plan.rules,
            argsDigest: plan.digest,
          },
        },
        {
          within: async (tx) => {
            await deps.approvals.open(tx, {
              approvalId: input.approvalId,
              kind: input.kind,
              taskId: t.taskId,
              callId: call.callId,
              toolId: call.toolId,
              digest: plan.digest,
              policyVersion: plan.policyVersion!,
              route: plan.route,
            });
          },
        },
      );
      return { callId: call.callId, decision: 'pending', approvalId: input.approvalId, traceId: trace.traceId, policyVersion: plan.policyVersion };
    },

    async closeHold(input: { approvalId: string; status: HoldStatus; answer?: ApprovalAnswer }): Promise<void> {
      await deps.approvals.close(input.approvalId, input.status, input.answer);
    },

    async recordProvisioning(input: Omit<ProvisionedAccess, 'revokedAt' | 'revokeStatus' | 'lastError'> & { changes: unknown[] }): Promise<void> {
      const t = await task(input.taskId);
      const known = await deps.provisioned.one(input.taskId, input.appId, input.entitlementId);
      // A retried activity: already recorded (unless a mover's release removed the entitlement since).
      // Another saga of the task for the same access may have recorded first: what this one created
      // (the account, say, which the other found) is still recorded, or nobody would remove it.
      if (known && !known.revokedAt && (known.entitlementGranted || !input.entitlementGranted) && (known.accountCreated || !input.accountCreated)) return;
      await deps.traces.append(
        {
          kind: 'grant',
          body: { taskId: t.taskId, userId: t.userId, agentId: t.agentId, appId: input.appId, entitlementId: input.entitlementId, accountId: input.accountId, provisioning: input.changes },
        },
        { within: (tx) => deps.provisioned.record(tx, input) },
      );
    },

    /** The revocation mark: task no longer active, grants and credential references dead. */
    async markCollapsed(input: { taskId: string; status: Ended; reason: string; by: string }): Promise<{ provisioned: ProvisionedAccess[] }> {
      await deps.db.transaction(async (tx) => {
        await deps.tasks.markCollapsed(tx, input.taskId, input.status, input.reason);
        await deps.credentials.revokeTask(tx, input.taskId);
      });
      const t = await task(input.taskId);
      const provisioned = (await deps.provisioned.ofTask(input.taskId)).filter((p) => !p.revokedAt);
      const apps = await lockedForRemoval(t, provisioned);
      // Another task's saga there may rely on what this task created (the account it found): its
      // decision first, then what it relies on is in its grants and records, and is handed over.
      for (const appId of apps) {
        const [under] = await locks.stepsUnderWay(t.userId, t.taskId, appId);
        if (!under) continue;
        await locks.decided(t.taskId, t.userId, apps, []);
        throw accessBusy(`The provisioning of ${under.taskId} in ${appId} has no decision yet: ${t.taskId} decides its removals there after it.`);
      }
      const left = await handOver({ ...deps, receipt }, t, provisioned, true);
      await locks.decided(t.taskId, t.userId, apps, left);
      return { provisioned: left };
    },

    async recordDeprovisioned(input: { taskId: string; appId: string; entitlementId: string; changes: unknown[] }): Promise<void> {
      const { taskId, appId, entitlementId } = input;
      await receipt(taskId, { appId, entitlementId, revocation: 'deprovisioned', provisioning: input.changes }, (tx) => deps.provisioned.markRevoked(tx, taskId, appId, entitlementId));
      await removed(taskId, appId, entitlementId);
    },

    /**
     * Access JIT provisioned for the task that no live grant needs (after a mover revoked some):
     * entitlements to remove, less those handed over to another task of the person that needs them.
     */
    async unneededAccess(input: { taskId: string }): Promise<ProvisionedAccess[]> {
      const found = await unneeded(input.taskId);
      if (!found.length) return found;
      const t = await task(input.taskId);
      const apps = await lockedForRemoval(t, found);
      // An entitlement another task's saga under way has looked at stays for now (that saga may
      // rely on it); the next release or the end decides again.
      const looked = new Set<string>();
      for (const appId of apps) for (const s of await locks.stepsUnderWay(t.userId, t.taskId, appId)) looked.add(`${appId}\u0000${s.step}`);
      const now = found.filter((p) => !looked.has(`${p.appId}\u0000${entitlementStep(p.entitlementId)}`));
      const left = await handOver({ ...deps, receipt }, t, now, false);
      await locks.decided(t.taskId, t.userId, apps, left);
      return left;
    },

    /** A receipt for an entitlement removed after a mover's revocation. Idempotent: a retry writes no second one. */
    async recordReleased(input: { taskId: string; appId: string; entitlementId: string; changes: unknown[] }): Promise<void> {
      const { taskId, appId, entitlementId } = input;
      const known = await deps.provisioned.one(taskId, appId, entitlementId);
      if (known?.entitlementGranted) {
        const body = { appId, entitlementId, revocation: 'deprovisioned', cause: 'mover_reevaluation', provisioning: input.changes };
        await receipt(taskId, body, (tx) => deps.provisioned.markReleased(tx, taskId, appId, entitlementId));
      }
      await removed(taskId, appId, entitlementId);
    },

    /**
     * A provisioning saga that failed took back what it had added: a receipt of those removals (the
     * access never reached the task's records, so nothing else is marked).
     */
    async recordRolledBack(input: { taskId: string; appId: string; entitlementId: string; callId: string; error: string; changes: unknown[] }): Promise<void> {
      const { taskId, appId, entitlementId, callId, error } = input;
      await receipt(taskId, { callId, appId, entitlementId, revocation: 'rolled_back', error, provisioning: input.changes });
    },

    /** The deprovisioning retry budget is spent: visible on the task, in the trace and as a metric. */
    async recordRevokeFailed(input: { taskId: string; appId: string; entitlementId: string; error: string; cause?: string }): Promise<void> {
      const { taskId, appId, entitlementId, error, cause } = input;
      deps.metrics.revocationsFailed.inc({ app: appId });
      const fields = Object.assign({ appId, entitlementId, revocation: 'revoke_failed', error }, cause ? { cause } : {});
      await receipt(taskId, fields, (tx) => deps.provisioned.markFailed(tx, taskId, appId, entitlementId, error));
      // A release gives up until the collapse, which decides again; a collapse keeps the lock while it retries.
      if (cause) await removed(taskId, appId, entitlementId);
    },

    /** A receipt per grant, then the final state. Idempotent: a retry writes no second receipt. */
    async finishCollapse(input: { taskId: string; status: Ended; reason: string; by: string }): Promise<CollapseResult> {
      const t = await task(input.taskId);
      const pending = await deps.db.transaction((tx) => deps.tasks.markCollapsed(tx, input.taskId, input.status, input.reason));
      for (const g of pending) {
        await deps.traces.append(
          {
            kind: 'revocation',
            body: {
              taskId: t.taskId,
              userId: t.userId,
              agentId: t.agentId,
              toolId: g.toolId,
              appId: g.appId,
              grantedVia: g.via,
              grantedAt: g.grantedAt,
              endedBecause: input.reason,
              endedBy: input.by,
              revocation: 'context_removed',
            },
          },
          { within: (tx) => deps.tasks.setRevokeStatus(tx, t.taskId, g.toolId, 'revoked') },
        );
      }
      await locks.over(input.taskId);
      const ended = (await deps.tasks.get(input.taskId))!;
      const all = await deps.tasks.grants(input.taskId);
      return { taskId: input.taskId, status: ended.status as Ended, revoked: all.map((g) => g.toolId) };
    },
  };
}
