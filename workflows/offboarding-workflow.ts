// Identity lifecycle workflows. Leavers: one offboarding per person and event collapses every
// running task of theirs, moves their pending approvals on and orphans their agents. Movers: a
// person's live grants decided again after their directory attributes changed.
import { ApplicationFailure, continueAsNew, executeChild, getExternalWorkflowHandle, patched, sleep, type SignalDefinition } from '@temporalio/workflow';
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/common';
import type { ApprovalRef, MoverRevocation, OffboardingRecord } from '../activities/identity';
import { acts } from './activity-profiles';
import { approverRemovedSignal, grantsRevokedSignal, revokeAllSignal, taskWorkflowId } from './messages';

export interface OffboardingInput {
  offboardingId: string;
  userId: string;
  /** Who asked: `hr` (webhook) or `scim` (IdP); recorded on every revocation. */
  by: string;
}

export interface OffboardingOptions {
  /** How long to wait for every task to collapse before the summary lists the rest as unfinished. */
  collapseTimeoutSeconds?: number;
  pollIntervalMs?: number;
}

export type OffboardingResult = OffboardingRecord;

export async function offboardingWorkflow(input: OffboardingInput, options: OffboardingOptions = {}): Promise<OffboardingResult> {
  const { userId, offboardingId, by } = input;
  const revoke = { status: 'revoked' as const, reason: 'offboarded', by };

  const tasks = await acts.runningTasksOf({ userId });
  const workflowOf = new Map(tasks.map((t) => [t.taskId, t.workflowId]));
  await Promise.all(tasks.map((t) => signal(t.workflowId, revokeAllSignal, revoke)));

  // Their pending answers on other people's tasks: those steps move on without them.
  const approvals: ApprovalRef[] = await acts.approvalsAnsweredBy({ personId: userId });
  await Promise.all(approvals.map((a) => signal(a.workflowId, approverRemovedSignal, { personId: userId })));

  const agentsOrphaned = await acts.orphanAgentsOf({ userId });

  // Bounded wait until each task's projection shows it collapsed, so the summary can list what was
  // revoked. A task whose workflow was not running yet at the first signal is signalled again.
  const deadline = Date.now() + (options.collapseTimeoutSeconds ?? 600) * 1000;
  const pollMs = options.pollIntervalMs ?? 250;
  let open = await acts.notCollapsed({ taskIds: [...workflowOf.keys()] });
  for (let round = 1; open.length && Date.now() < deadline; round++) {
    await sleep(pollMs);
    if (round % 20 === 0) await Promise.all(open.map((taskId) => signal(workflowOf.get(taskId)!, revokeAllSignal, revoke)));
    open = await acts.notCollapsed({ taskIds: open });
  }

  return acts.recordOffboarding({
    offboardingId,
    userId,
    by,
    taskIds: tasks.map((t) => t.taskId),
    unfinished: open,
    agentsOrphaned,
    approvalsMoved: approvals,
  });
}

export interface MoverInput {
  userId: string;
  /** What changed (e.g. the HR event or the SCIM version), recorded on each revocation. */
  cause: string;
}

export async function moverWorkflow(input: MoverInput): Promise<MoverRevocation[]> {
  const revoked = await acts.reevaluateGrants(input);
  // Each task's workflow removes the access its revoked grants no longer need (runs from before only revoked).
  if (patched('mover-signals-tasks')) {
    const toolsOf = new Map<string, string[]>();
    for (const r of revoked) toolsOf.set(r.taskId, [...(toolsOf.get(r.taskId) ?? []), r.toolId]);
    await Promise.all([...toolsOf].map(([taskId, toolIds]) => signal(taskWorkflowId(taskId), grantsRevokedSignal, { toolIds })));
  }
  return revoked;
}

export interface PolicyReevaluationInput {
  version: string;
  /** The last person of the previous run's page (the fan-out continues as new page by page). */
  after?: string;
  /** People re-evaluated per run (default 200: a child's few events each keep the history well under its cap). */
  pageSize?: number;
  /** People whose re-evaluation failed in earlier runs (the fan-out fails naming them once every page ran). */
  failed?: string[];
}

/**
 * A new policy version was activated: every person holding live grants is re-evaluated as after a
 * move (a mover workflow each, cause `policy:<version>`), a page at a time, durably.
 */
export async function policyReevaluationWorkflow(input: PolicyReevaluationInput): Promise<void> {
  const limit = input.pageSize ?? 200;
  const people = await acts.peopleWithLiveGrants({ after: input.after, limit });
  const outcomes = await Promise.all(
    people.map((userId) =>
      executeChild(moverWorkflow, { workflowId: `mover-${userId}-policy-${input.version}`, args: [{ userId, cause: `policy:${input.version}` }] }).then(
        () => undefined,
        // Another fan-out of this version is re-evaluating them right now: theirs is as good as ours.
        (err) => (err instanceof WorkflowExecutionAlreadyStartedError ? undefined : userId),
      ),
    ),
  );
  const failed = [...(input.failed ?? []), ...outcomes.filter((u): u is string => u !== undefined)];
  if (people.length === limit) await continueAsNew<typeof policyReevaluationWorkflow>({ ...input, after: people[people.length - 1], failed });
  // The rest were re-evaluated; a person whose grants may still hold what the version denies is not
  // left to pass as done.
  if (failed.length) {
    throw ApplicationFailure.nonRetryable(`Re-evaluation under policy ${input.version} failed for ${failed.length} people: ${failed.slice(0, 20).join(', ')}`, 'ReevaluationIncomplete', { failed });
  }
}

/** Signals another workflow; one that already finished has nothing left to revoke. */
async function signal<A>(workflowId: string, def: SignalDefinition<[A]>, arg: A): Promise<boolean> {
  try {
    await getExternalWorkflowHandle(workflowId).signal(def, arg);
    return true;
  } catch {
    return false;
  }
}
