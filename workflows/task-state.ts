// The task workflow's state as a plain class, so tests can drive it without a server.
import { ApplicationFailure } from '@temporalio/workflow';
import type { local } from './activity-profiles';
import type {
  ApprovalAnswer,
  CarriedState,
  CollapseResult,
  ContextEntry,
  EndTaskRequest,
  HeldCall,
  TaskInput,
  TaskStatus,
  TaskView,
  ToolCallResult,
} from './messages';

/** Decisions remembered for idempotency inside the workflow; older ones are answered from the trace. */
const DECIDED_KEPT = 500;

const refuse = (type: string, message: string) => ApplicationFailure.create({ type, message, nonRetryable: true });

export class TaskState {
  readonly context = new Map<string, ContextEntry>();
  readonly holds = new Map<string, HeldCall>();
  /** Slack card updates still in flight (not carried: a run waits for them before it ends). */
  readonly cardUpdates = new Set<Promise<unknown>>();
  private readonly decided = new Map<string, ToolCallResult>();
  /** Answers already given, by approval id (so late clicks learn who decided). */
  private readonly answered = new Map<string, ApprovalAnswer>();
  endRequest?: EndTaskRequest;
  collapsed?: CollapseResult;
  /** Releases of access after a mover's revocation, signalled or running; provisioning waits for them. */
  releasing = 0;
  /** Provisionings running; a release waits for them. */
  provisioning = 0;
  /** The run's local activities (the workflow sets them: one at a time, or as runs before that did). */
  local!: typeof local;

  constructor(readonly input: TaskInput) {
    for (const entry of input.carried?.context ?? []) this.context.set(entry.toolId, entry);
    for (const [callId, result] of input.carried?.decided ?? []) this.decided.set(callId, result);
    for (const hold of input.carried?.holds ?? []) this.holds.set(hold.approvalId, hold);
  }

  get status(): TaskStatus {
    return this.collapsed?.status ?? this.endRequest?.status ?? 'active';
  }

  decidedResult(callId: string): ToolCallResult | undefined {
    return this.decided.get(callId);
  }

  remember(result: ToolCallResult): ToolCallResult {
    this.decided.set(result.callId, result);
    if (this.decided.size > DECIDED_KEPT) this.decided.delete(this.decided.keys().next().value!);
    return result;
  }

  grant(entry: ContextEntry): void {
    this.context.set(entry.toolId, entry);
  }

  /** A grant revoked outside the workflow (a mover's re-evaluation): the tool leaves the context. */
  forget(toolId: string): void {
    this.context.delete(toolId);
  }

  /** The first end request wins: a later end or revoke does not change how the task ended. */
  requestEnd(req: EndTaskRequest): void {
    this.endRequest ??= req;
  }

  hold(h: HeldCall): void {
    this.holds.set(h.approvalId, h);
  }

  release(approvalId: string): void {
    const h = this.holds.get(approvalId);
    if (h?.answer) this.answered.set(approvalId, h.answer);
    this.holds.delete(approvalId);
  }

  /** Update validator: refuses before anything reaches history. */
  validateAnswer(a: ApprovalAnswer): void {
    const done = this.answered.get(a.approvalId);
    if (done) throw refuse('already_decided', `Already decided by ${done.personId} (${done.choice}) at ${done.at}.`);
    const h = this.holds.get(a.approvalId);
    if (!h) throw refuse('unknown_approval', 'This request is no longer pending.');
    if (h.answer) throw refuse('already_decided', `Already decided by ${h.answer.personId} (${h.answer.choice}) at ${h.answer.at}.`);
    const confirming = h.kind === 'confirmation';
    if (!confirming && a.personId === this.input.userId) {
      throw refuse('self_approval', 'You delegated this task: someone else must approve it.');
    }
    if (!h.answerers.includes(a.personId)) {
      throw refuse(confirming ? 'not_the_person' : 'not_an_approver', confirming ? 'Only the person who delegated the task can confirm.' : 'You are not an approver of this step.');
    }
    const valid = confirming ? ['confirm', 'decline'] : ['approve_once', 'approve_task', 'deny'];
    if (!valid.includes(a.choice)) throw refuse('invalid_choice', `Choice ${a.choice} does not answer a ${h.kind}.`);
    if (a.digest !== h.digest) throw refuse('stale_digest', 'The call changed since this card was sent; it cannot be approved from here.');
  }

  answer(a: ApprovalAnswer): void {
    const h = this.holds.get(a.approvalId);
    if (h && !h.answer) h.answer = a;
  }

  /** An approver left: they can no longer answer; a step with nobody left ends early. */
  removeApprover(personId: string): void {
    for (const h of this.holds.values()) if (h.kind === 'approval') h.answerers = h.answerers.filter((p) => p !== personId);
  }

  view(): TaskView {
    const pending = [...this.holds.values()].map(({ callId, toolId, approvalId, kind, since }) => ({ callId, toolId, approvalId, kind, since }));
    return { taskId: this.input.taskId, status: this.status, context: [...this.context.values()], pending };
  }

  carry(): CarriedState {
    const holds = [...this.holds.values()];
    return { context: [...this.context.values()], decided: [...this.decided.entries()], ...(holds.length ? { holds } : {}) };
  }
}
