// One workflow per agent task: the single writer of the task's Dynamic Agent Context.
// It wires handlers and waits; what a call needs is decided by activities and the state class.
import {
  ApplicationFailure,
  allHandlersFinished,
  condition,
  continueAsNew,
  patched,
  setHandler,
  sleep,
  uuid4,
  workflowInfo,
} from '@temporalio/workflow';
import type { EvaluatedPlan } from '../activities';
import type { ProvisioningChange, ProvisioningChangeKind } from '../activities/provisioning/connector';
import { local, deprovisioningWithin, notify, oneAtATime, provisioning } from './activity-profiles';
import {
  answerApprovalUpdate,
  approverRemovedSignal,
  endTaskUpdate,
  grantsRevokedSignal,
  requestToolCallUpdate,
  revokeAllSignal,
  taskViewQuery,
  type ApprovalAnswer,
  type CollapseResult,
  type ContextEntry,
  type GrantVia,
  type HeldCall,
  type Reason,
  type TaskInput,
  type ToolCallRequest,
  type ToolCallResult,
} from './messages';
import { contextEntry } from './plan-path';
import { TaskState } from './task-state';

/** Continue-as-new once history passes this many events (Temporal caps a history at 51,200). */
export const HISTORY_EVENTS_LIMIT = 10_000;

export interface TaskWorkflowOptions {
  historyEventsLimit?: number;
  /** How long the delegating person has to confirm a tool they hold for their agent. */
  confirmationTimeoutSeconds?: number;
  /** Pause between rounds of a deprovisioning that exhausted its retry budget. */
  revokeRetryPauseSeconds?: number;
  /** Attempts of one deprovisioning step per round before `revoke_failed` is raised (default: the profile's). */
  deprovisionAttempts?: number;
}

export async function taskWorkflow(input: TaskInput, options: TaskWorkflowOptions = {}): Promise<CollapseResult> {
  const state = new TaskState(input);
  // Runs from before keep their concurrent local activities (their histories replay as recorded).
  state.local = patched('local-activities-one-at-a-time') ? oneAtATime(local) : local;
  const historyLimit = options.historyEventsLimit ?? HISTORY_EVENTS_LIMIT;
  const inFlight = new Set<Promise<void>>();
  const track = (settling: Promise<void>) => {
    const p = settling.finally(() => inFlight.delete(p));
    inFlight.add(p);
  };
  /** Calls being decided now: one may still become a held call. */
  let deciding = 0;
  const idle = () => deciding === 0 && inFlight.size === 0;
  // Runs started before held calls could be carried keep waiting for them to settle (replay).
  const carriesHolds = patched('carry-held-calls');
  /** Nothing is mid-step: every held call waits for a human with its cards posted. */
  const carriable = () => (carriesHolds ? deciding === 0 && state.releasing === 0 && [...state.holds.values()].every((h) => h.waiting) : idle());

  setHandler(taskViewQuery, () => state.view());
  setHandler(revokeAllSignal, (req) => state.requestEnd(req));
  setHandler(approverRemovedSignal, ({ personId }) => state.removeApprover(personId));
  setHandler(grantsRevokedSignal, ({ toolIds }) => {
    for (const toolId of toolIds) state.forget(toolId);
    state.releasing++;
    track(releaseAccess(state, options).finally(() => state.releasing--));
  });
  setHandler(
    answerApprovalUpdate,
    (a) => {
      state.answer(a);
      return { accepted: true as const };
    },
    { validator: (a) => state.validateAnswer(a) },
  );
  setHandler(
    requestToolCallUpdate,
    async (req) => {
      const known = state.decidedResult(req.callId);
      if (known) return known;
      deciding++;
      try {
        const { result, held } = await decide(state, req, options);
        if (held) track(held);
        return state.remember(result);
      } finally {
        deciding--;
      }
    },
    {
      validator: (req) => {
        if (!req.callId || !req.toolId) throw refusal('InvalidToolCall', 'callId and toolId are required');
      },
    },
  );
  setHandler(endTaskUpdate, async (req) => {
    state.requestEnd(req);
    await condition(() => state.collapsed !== undefined);
    return state.collapsed!;
  });
  // Calls an earlier run held wait on here, from where they were.
  for (const hold of state.holds.values()) track(settle(state, hold, options));

  const tooLong = () => carriable() && (workflowInfo().continueAsNewSuggested || workflowInfo().historyLength > historyLimit);
  for (;;) {
    const ttlMs = Math.max(1, Date.parse(input.expiresAt) - Date.now());
    const woke = await condition(() => state.endRequest !== undefined || tooLong(), ttlMs);
    if (!woke) state.requestEnd({ status: 'expired', reason: 'ttl', by: 'system' });
    if (state.endRequest) break;
    // Handlers still running may hold a call, or end the task (whose handler waits for the collapse).
    await condition(() => allHandlersFinished() || state.endRequest !== undefined);
    if (!state.endRequest && tooLong()) {
      await cardsUpdated(state);
      // A call may have come in meanwhile (runs from before the patch continued regardless).
      if (!carriesHolds || (!state.endRequest && tooLong())) return continueAsNew<typeof taskWorkflow>({ ...input, carried: state.carry() }, options);
    }
  }

  // Calls being decided and held calls see the end request and settle (denied, approvals cancelled) before the collapse.
  await condition(idle);
  state.collapsed = await collapse(state, options);
  await condition(allHandlersFinished);
  await cardsUpdated(state);
  return state.collapsed;
}

/**
 * Card updates run beside the decisions (a Slack outage must not hold a decision back), but a run
 * that ends would drop the ones still scheduled: it waits for them, for a bounded time.
 */
const CARD_UPDATE_GRACE_MS = 60_000;
/** What an undo reports when it took something away in the target app. */
const REMOVALS: ReadonlySet<ProvisioningChangeKind> = new Set(['entitlement_revoked', 'account_deactivated', 'credential_destroyed']);

function cardUpdate(state: TaskState, p: Promise<unknown>): void {
  const settled: Promise<unknown> = p.catch(() => undefined).finally(() => state.cardUpdates.delete(settled));
  state.cardUpdates.add(settled);
}

async function cardsUpdated(state: TaskState): Promise<void> {
  await condition(() => state.cardUpdates.size === 0, CARD_UPDATE_GRACE_MS);
}

/** Fails an update (a plain Error would retry the workflow task forever). */
function refusal(type: string, message: string) {
  return ApplicationFailure.create({ type, message, nonRetryable: true });
}

async function deny(state: TaskState, req: ToolCallRequest, reason: Reason, plan?: EvaluatedPlan): Promise<ToolCallResult> {
  return state.local.commitDecision({
    taskId: state.input.taskId,
    call: req,
    outcome: { ...(plan ?? {}), decision: 'deny', reason },
  });
}

/** Decides a call now, or holds it for a human and returns `pending` with the hold's settlement. */
async function decide(
  state: TaskState,
  req: ToolCallRequest,
  options: TaskWorkflowOptions,
): Promise<{ result: ToolCallResult; held?: Promise<void> }> {
  const taskId = state.input.taskId;
  if (state.status !== 'active') return { result: await deny(state, req, { code: 'task_not_active', message: `The task is ${state.status}.` }) };
  let inContext = state.context.has(req.toolId);
  // One local activity plans the call and, when the plan decides it at once, records the decision
  // (a round trip between the worker and the workflow less); runs from before this took two.
  const decided = patched('decide-in-one-activity')
    ? await state.local.decideCall({ taskId, call: req, inContext })
    : { plan: await state.local.evaluateCall({ taskId, call: req, inContext }) };
  if (decided.plan.grantRevoked) {
    state.forget(req.toolId);
    inContext = false;
  }
  if (decided.result) {
    // decideCall returns a grant only with the allow it recorded.
    if (decided.grant) state.grant(decided.grant);
    return { result: decided.result };
  }
  const { plan } = decided;
  if (plan.decision === 'deny' || plan.decision === 'throttle') return { result: await state.local.commitDecision({ taskId, call: req, outcome: plan }) };
  if (!plan.needsConfirmation && !plan.needsApproval) {
    const grant = inContext ? undefined : contextEntry(req, plan, plan.needsProvisioning ? 'provisioning' : 'policy');
    if (grant && plan.needsProvisioning) {
      // An app whose access is a credential: a secret minted for this task, before the grant.
      const provisioned = await provision(state, req, plan, options);
      if (!provisioned.ok) return { result: await deny(state, req, { code: 'provisioning_failed', message: provisioned.message }, plan) };
    }
    const result = await state.local.commitDecision({ taskId, call: req, outcome: plan, grant });
    if (grant && result.decision === 'allow') state.grant(grant);
    return { result };
  }
  const hold: HeldCall = {
    approvalId: uuid4(),
    callId: req.callId,
    toolId: req.toolId,
    kind: plan.needsConfirmation ? 'confirmation' : 'approval',
    since: req.requestedAt,
    call: req,
    plan,
    digest: plan.digest,
    answerers: [],
    answers: [],
  };
  state.hold(hold);
  const result = await state.local.openHold({ taskId, call: req, approvalId: hold.approvalId, kind: hold.kind, plan });
  return { result, held: settle(state, hold, options) };
}

/**
 * Runs a held call to its end: confirmation, approval chain, re-check, provisioning, decision.
 * A hold carried from an earlier run resumes at its wait (`hold.waiting`): its cards are out.
 */
async function settle(state: TaskState, first: HeldCall, options: TaskWorkflowOptions): Promise<void> {
  const taskId = state.input.taskId;
  const { call: req, plan } = first;
  const answers = first.answers;
  let hold = first;
  const finish = async (result: () => Promise<ToolCallResult>, status: 'approved' | 'denied' | 'timed_out' | 'cancelled') => {
    const decided = await result();
    state.remember(decided);
    await state.local.closeHold({ approvalId: hold.approvalId, status, answer: hold.answer });
    // Every card of the approval shows the outcome; a Slack outage must not hold the decision back.
    cardUpdate(state, notify.updateCards({ approvalId: hold.approvalId, outcome: status, by: hold.answer?.personId, at: new Date().toISOString(), comment: hold.answer?.comment }));
    state.release(hold.approvalId);
  };
  const ended = () => state.status !== 'active';
  const endedReason = (): Reason => ({ code: 'task_not_active', message: `The task is ${state.status}.` });

  if (hold.kind === 'confirmation') {
    if (!hold.waiting) {
      hold.answerers = [state.input.userId];
      await notify.askConfirmation({ taskId, approvalId: hold.approvalId, call: req, plan });
      hold.waiting = { phase: 'confirmation', deadline: new Date(Date.now() + (options.confirmationTimeoutSeconds ?? 900) * 1000).toISOString() };
    }
    await condition(() => hold.answer !== undefined || ended(), msUntil(hold.waiting.deadline));
    hold.waiting = undefined;
    if (!hold.answer) {
      const why = ended() ? endedReason() : { code: 'confirmation_timed_out', message: 'The person did not confirm in time.' };
      return finish(() => deny(state, req, why, plan), ended() ? 'cancelled' : 'timed_out');
    }
    answers.push(hold.answer);
    if (hold.answer.choice !== 'confirm') {
      return finish(() => deny(state, req, { code: 'person_declined', message: 'The person declined to give the agent this tool.' }, plan), 'denied');
    }
    if (plan.needsApproval) {
      // A confirmed call that also needs approval continues on a fresh hold: a new card, a new id.
      await state.local.closeHold({ approvalId: hold.approvalId, status: 'approved', answer: hold.answer });
      cardUpdate(state, notify.updateCards({ approvalId: hold.approvalId, outcome: 'confirm', by: hold.answer?.personId, at: new Date().toISOString() }));
      state.release(hold.approvalId);
      hold = { ...hold, approvalId: uuid4(), kind: 'approval', answerers: [], answer: undefined };
      state.hold(hold);
      await state.local.openHold({ taskId, call: req, approvalId: hold.approvalId, kind: 'approval', plan });
    }
  }

  let choice: ApprovalAnswer['choice'] | undefined;
  if (plan.needsApproval) {
    const answer = await approvalChain(state, hold);
    if (!answer) {
      const why = ended() ? endedReason() : { code: 'approval_timed_out', message: 'No approver answered in time.' };
      return finish(() => deny(state, req, why, plan), ended() ? 'cancelled' : 'timed_out');
    }
    answers.push(answer);
    if (answer.choice === 'deny') {
      return finish(
        () => deny(state, req, { code: 'approval_denied', message: `Denied by ${answer.personId}${answer.comment ? `: ${answer.comment}` : ''}.` }, plan),
        'denied',
      );
    }
    choice = answer.choice;
  }

  // Hours may have passed: decide again with the current policy and the person's current HR state.
  const now = new Date().toISOString();
  const again = await state.local.evaluateCall({ taskId, call: { ...req, requestedAt: now }, inContext: state.context.has(req.toolId), approved: true });
  if (again.grantRevoked) state.forget(req.toolId);
  if (ended()) return finish(() => deny(state, req, endedReason(), plan), 'cancelled');
  if (again.decision === 'deny' || again.decision === 'throttle') {
    return finish(() => state.local.commitDecision({ taskId, call: req, outcome: { ...again, decision: 'deny' }, answers }), 'denied');
  }
  // The call may now need more than when it was held: the agent further from the tool (a mover
  // revoked its grant, or the access the plan relied on went), or a policy version that escalates
  // it, or sends it to other approvers. A step the hold did not take is not taken on the answer
  // given: the agent calls again, and the call takes that path.
  if (moreToReach(plan, again) && patched('reach-rechecked-at-resume')) {
    const why = { code: 'access_changed', message: 'The call needs a confirmation, an approval or access it did not wait for (access or policy changed meanwhile): call it again.' };
    return finish(() => deny(state, req, why, again), 'denied');
  }

  let via: GrantVia = plan.needsApproval ? 'approval' : 'user-confirmation';
  // Another call of the tool may have brought it into the context meanwhile (provisioned, or a
  // credential minted): access exists, and the re-check planned no provisioning (no entitlement).
  // Runs from before the patch provisioned anyway, and their record of it failed for ever.
  const accessInContext = again.reach === 'in-context' && patched('no-provisioning-in-context');
  if (plan.needsProvisioning && !accessInContext) {
    const provisioned = await provision(state, req, again, options);
    if (!provisioned.ok) {
      return finish(() => deny(state, req, { code: 'provisioning_failed', message: provisioned.message }, again), 'approved');
    }
    // The task ended while its access was created: the call was still pending, so it is denied,
    // and the collapse removes the access just recorded.
    if (ended() && patched('deny-ended-during-provisioning')) return finish(() => deny(state, req, endedReason(), again), 'cancelled');
    via = 'provisioning';
  }
  // "Approve once" lets this call through without adding the tool to the context.
  const grant = choice === 'approve_once' || state.context.has(req.toolId) ? undefined : contextEntry(req, again, via, now);
  return finish(async () => {
    const result = await state.local.commitDecision({ taskId, call: req, outcome: again, grant, answers });
    if (grant && result.decision === 'allow') state.grant(grant);
    return result;
  }, 'approved');
}

/**
 * Whether the re-check asks for a confirmation, an approval or a provisioning the held plan did not:
 * an approval by another route's approvers counts as one not given.
 */
const moreToReach = (held: EvaluatedPlan, now: EvaluatedPlan) =>
  (now.needsConfirmation && !held.needsConfirmation) ||
  (now.needsApproval && (!held.needsApproval || now.route !== held.route)) ||
  (now.needsProvisioning && !held.needsProvisioning);

const msUntil = (at: string) => Math.max(1, Date.parse(at) - Date.now());

/**
 * Walks the route's steps; a step with nobody reachable, or whose time runs out, moves on.
 * A carried hold starts at the step it waited on, until that step's deadline.
 */
async function approvalChain(state: TaskState, hold: HeldCall): Promise<ApprovalAnswer | undefined> {
  const taskId = state.input.taskId;
  const { call: req, plan } = hold;
  const carried = hold.waiting?.phase === 'approval' ? hold.waiting : undefined;
  for (let step = carried?.step ?? 0; ; step++) {
    let deadline: string;
    let posting: Promise<unknown>;
    if (carried && step === carried.step) {
      deadline = carried.deadline;
      posting = Promise.resolve();
    } else {
      const next = await state.local.nextApprovers({ taskId, appId: plan.appId!, route: plan.route!, fromStep: step });
      if (!next) return undefined;
      step = next.step;
      hold.answerers = next.approverIds;
      deadline = new Date(Date.now() + next.timeoutSeconds * 1000).toISOString();
      // Cards are posted concurrently: a Slack outage delays them but does not stop the clock.
      posting = notify.askApprovers({ taskId, approvalId: hold.approvalId, call: req, plan, step, approverIds: next.approverIds, deadline });
    }
    const waiting = { phase: 'approval' as const, step, deadline };
    // Carriable once its cards are out (a run that ends drops the posts still scheduled).
    const posted = posting.catch(() => undefined).then(() => {
      if (!hold.answer && state.status === 'active') hold.waiting = waiting;
    });
    await condition(() => hold.answer !== undefined || hold.answerers.length === 0 || state.status !== 'active', msUntil(deadline));
    await posted;
    hold.waiting = undefined;
    if (hold.answer || state.status !== 'active') return hold.answer;
  }
}

/**
 * Just-in-time provisioning as a saga: on failure, undo what was done, last first. Each undo is
 * registered *before* its step runs (undoing a step that never took effect removes nothing), so a
 * step whose last retry failed after an earlier attempt took effect is still undone; the account's
 * undo, not told the account's id then, has the journal and the target find it. An undo that itself
 * fails is recorded as a JIT grant with `revoke_failed`, so collapse keeps retrying it.
 */
async function provision(
  state: TaskState,
  req: ToolCallRequest,
  plan: EvaluatedPlan,
  options: TaskWorkflowOptions,
): Promise<{ ok: true } | { ok: false; message: string }> {
  // Not while a mover's release runs (it could remove what this adds). No await otherwise: runs
  // from before releases existed replay with the same steps.
  while (state.releasing > 0) await condition(() => state.releasing === 0);
  const { taskId, userId } = state.input;
  const deprovisioning = deprovisioningWithin(options.deprovisionAttempts);
  const appId = plan.appId!;
  const entitlementId = plan.entitlementId!;
  const sagaId = req.callId;
  const done = { accountId: '', accountCreated: false, entitlementGranted: false };
  const compensations: { run: () => Promise<ProvisioningChange>; undoes: 'account' | 'entitlement' }[] = [];
  const deactivate = { undoes: 'account' as const, run: () => deprovisioning.deactivateAccount({ taskId, appId, accountId: done.accountId, userId, sagaId }) };
  // Histories from before this was registered first have no undo scheduled after an account step that failed.
  const accountUndoFirst = patched('account-undo-before-its-step');
  state.provisioning++;
  try {
    if (accountUndoFirst) {
      compensations.unshift(deactivate);
      done.accountCreated = true;
    }
    const account = await provisioning.provisionAccount({ taskId, appId, userId, sagaId });
    done.accountId = account.accountId;
    done.accountCreated = account.created;
    if (account.created && !accountUndoFirst) compensations.unshift(deactivate);
    if (!account.created && accountUndoFirst) compensations.shift();
    const revoke = { undoes: 'entitlement' as const, run: () => deprovisioning.revokeEntitlement({ taskId, appId, accountId: account.accountId, entitlementId }) };
    compensations.unshift(revoke);
    done.entitlementGranted = true;
    const granted = await provisioning.grantEntitlement({ taskId, appId, accountId: account.accountId, entitlementId, sagaId });
    if (granted.kind === 'entitlement_already_present') {
      compensations.splice(compensations.indexOf(revoke), 1);
      done.entitlementGranted = false;
    }
    await state.local.recordProvisioning({ taskId, appId, entitlementId, accountId: account.accountId, accountCreated: done.accountCreated, entitlementGranted: done.entitlementGranted, changes: [account.change, granted] });
    return { ok: true };
  } catch (err) {
    const undone: ProvisioningChange[] = [];
    for (const undo of compensations) {
      try {
        const change = await undo.run();
        undone.push(change);
        if (undo.undoes === 'account') done.accountCreated = change.kind === 'account_kept';
        else done.entitlementGranted = false;
      } catch (undoErr) {
        // Left behind: recorded so that collapse retries it until it is gone, and visible now.
        await state.local.recordProvisioning({ taskId, appId, entitlementId, accountId: done.accountId, accountCreated: done.accountCreated, entitlementGranted: done.entitlementGranted, changes: [] });
        await state.local.recordRevokeFailed({ taskId, appId, entitlementId, error: failureMessage(undoErr) });
        break;
      }
    }
    // An account another task of the person builds on is kept (activities never answered this
    // before, so no earlier history takes this branch): the task's end hands it over or deactivates it.
    const kept = undone.find((c) => c.kind === 'account_kept');
    if (kept) {
      await state.local.recordProvisioning({ taskId, appId, entitlementId, accountId: kept.accountId ?? done.accountId, accountCreated: true, entitlementGranted: done.entitlementGranted, changes: [kept] });
    }
    // What the saga added and took back leaves a receipt too (runs from before recorded none).
    if (undone.some((c) => REMOVALS.has(c.kind)) && patched('rollback-receipt')) {
      await state.local.recordRolledBack({ taskId, appId, entitlementId, callId: sagaId, error: failureMessage(err), changes: undone });
    }
    return { ok: false, message: `Access could not be provisioned: ${failureMessage(err)}` };
  } finally {
    state.provisioning--;
  }
}

function failureMessage(err: unknown): string {
  return err instanceof Error ? ((err.cause as Error | undefined)?.message ?? err.message) : String(err);
}

/**
 * After a mover's revocation: the entitlements JIT granted for grants no longer live are removed now,
 * each with a receipt; the accounts stay until the collapse deactivates them (a later grant reuses
 * them). A removal whose retry budget is spent raises `revoke_failed`, and the collapse retries it.
 */
async function releaseAccess(state: TaskState, options: TaskWorkflowOptions): Promise<void> {
  await condition(() => state.provisioning === 0);
  if (state.status !== 'active') return; // the collapse removes everything
  const { taskId } = state.input;
  const deprovisioning = deprovisioningWithin(options.deprovisionAttempts);
  for (const jit of await state.local.unneededAccess({ taskId })) {
    try {
      const change = await deprovisioning.revokeEntitlement({ taskId, appId: jit.appId, accountId: jit.accountId, entitlementId: jit.entitlementId });
      await state.local.recordReleased({ taskId, appId: jit.appId, entitlementId: jit.entitlementId, changes: [change] });
    } catch (err) {
      await state.local.recordRevokeFailed({ taskId, appId: jit.appId, entitlementId: jit.entitlementId, error: failureMessage(err), cause: 'mover_reevaluation' });
    }
  }
}

/** Revocation mark first, then deprovision what JIT created (retried until done), then receipts. */
async function collapse(state: TaskState, options: TaskWorkflowOptions): Promise<CollapseResult> {
  const { taskId } = state.input;
  const end = state.endRequest!;
  const marked = await state.local.markCollapsed({ taskId, status: end.status, reason: end.reason, by: end.by });
  const deprovisioning = deprovisioningWithin(options.deprovisionAttempts);
  for (const jit of marked.provisioned) {
    for (;;) {
      try {
        const changes = [];
        if (jit.entitlementGranted) changes.push(await deprovisioning.revokeEntitlement({ taskId, appId: jit.appId, accountId: jit.accountId, entitlementId: jit.entitlementId }));
        if (jit.accountCreated) changes.push(await deprovisioning.deactivateAccount({ taskId, appId: jit.appId, accountId: jit.accountId, userId: state.input.userId }));
        await state.local.recordDeprovisioned({ taskId, appId: jit.appId, entitlementId: jit.entitlementId, changes });
        break;
      } catch (err) {
        // The retry budget is spent: raise it (trace + metric, `revoke_failed` on the task) and keep trying.
        await state.local.recordRevokeFailed({ taskId, appId: jit.appId, entitlementId: jit.entitlementId, error: failureMessage(err) });
        await sleep((options.revokeRetryPauseSeconds ?? 300) * 1000);
      }
    }
  }
  return state.local.finishCollapse({ taskId, status: end.status, reason: end.reason, by: end.by });
}
