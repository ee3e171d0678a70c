// Asking humans about held calls: who answers the next step of a route, the cards posted to them,
// and every card updated in place once the call is decided. Called by the notify activities (worker)
// and by the click handler (API); Slack errors propagate for the caller to retry.
import type { ApprovalRepository, HoldRecord } from '../approvals/approval-repository';
import { nextApproverStep, refsOf, type ApproverStep } from '../approvals/approver-routing';
import type { EvaluatedPlan } from '../decisions/decision-service';
import type { DirectoryPerson } from '../directory/person';
import type { App, ApproverRoute, PolicyAgent, Tool } from '../policy/bundle';
import type { TaskRecord } from '../tasks/task-repository';
import type { ToolCallRequest } from '../../workflows/messages';
import { approvalCard, confirmationCard, decidedCard, type Card, type CardPerson, type HeldCallFacts } from './cards';
import type { SlackIdentities } from './slack-identities';
import { classifySlackFailure, type SlackWebApi } from './slack-web-client';

/** The slice of the active policy that routing and cards read. */
export interface PolicyView {
  tool(id: string): Tool | undefined;
  app(id: string): App | undefined;
  route(id: string): ApproverRoute | undefined;
}

export interface NotifierDirectory {
  person(id: string): Promise<DirectoryPerson | undefined>;
  groupMembers(groupId: string): Promise<DirectoryPerson[]>;
  agent(id: string): Promise<PolicyAgent | undefined>;
}

/** Structured log lines (one event each, never a secret). */
export interface NotifyLog {
  info(message: string, attrs?: Record<string, unknown>): void;
  warn(message: string, attrs?: Record<string, unknown>): void;
}

export interface ApprovalNotifierDeps {
  directory: NotifierDirectory;
  approvals: ApprovalRepository;
  tasks: { get(taskId: string): Promise<TaskRecord | undefined> };
  policy: { active(): PolicyView };
  identities: SlackIdentities;
  /** Undefined when Slack is not configured: holds are recorded and nothing is posted. */
  slack?: SlackWebApi;
  log: NotifyLog;
  now?: () => number;
}

/** A fault no retry can fix (the task or approval row is gone, Slack refused every card). */
export class NotifyRefused extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export interface AskApprovers {
  taskId: string;
  approvalId: string;
  call: ToolCallRequest;
  plan: EvaluatedPlan;
  step: number;
  approverIds: string[];
  deadline: string;
}

export interface AskConfirmation {
  taskId: string;
  approvalId: string;
  call: ToolCallRequest;
  plan: EvaluatedPlan;
}

export interface CardsOutcome {
  approvalId: string;
  outcome: string;
  by?: string;
  at: string;
  comment?: string;
}

export class ApprovalNotifier {
  private readonly now: () => number;

  constructor(private readonly deps: ApprovalNotifierDeps) {
    this.now = deps.now ?? Date.now;
  }

  /** The first step from `fromStep` on with somebody reachable; never the delegating person. */
  async nextApprovers(i: { taskId: string; appId: string; route: string; fromStep: number }): Promise<ApproverStep | undefined> {
    const policy = this.deps.policy.active();
    const route = policy.route(i.route);
    if (!route) {
      this.deps.log.warn('approver route not found: nobody to ask', { taskId: i.taskId, route: i.route });
      return undefined;
    }
    const task = await this.task(i.taskId);
    const delegator = await this.deps.directory.person(task.userId);
    if (!delegator) throw new NotifyRefused('person_not_found', `The delegating person ${task.userId} is not in the directory.`);
    const app = policy.app(i.appId);
    const refs = refsOf(route, i.fromStep, delegator, app);
    const [people, groups] = await Promise.all([
      Promise.all(refs.personIds.map((id) => this.deps.directory.person(id))),
      Promise.all(refs.groupIds.map(async (id) => [id, await this.deps.directory.groupMembers(id)] as const)),
    ]);
    return nextApproverStep(route, i.fromStep, {
      delegator,
      app,
      people: new Map(people.filter((p): p is DirectoryPerson => !!p).map((p) => [p.id, p])),
      groups: new Map(groups),
    });
  }

  /**
   * Records the step on the approval row and gives each approver a card. Idempotent: an approver
   * who already has a card for this approval gets it updated in place (new deadline), not a second one.
   */
  async askApprovers(i: AskApprovers): Promise<void> {
    const { approvals, slack, log } = this.deps;
    const before = await this.hold(i.approvalId);
    // A retry of the same ask (same step and deadline) leaves the cards already posted alone.
    const retry = before.step === i.step && before.deadline === new Date(i.deadline).toISOString();
    await approvals.setStep(i.approvalId, i.step, i.approverIds, i.deadline);
    if (!slack) {
      log.info('slack not configured: approval recorded, no card posted', { approvalId: i.approvalId, taskId: i.taskId, step: i.step, approverIds: i.approverIds });
      return;
    }
    const hold = { ...before, approverIds: i.approverIds };
    const facts = await this.facts(i.taskId, i.approvalId, i.call, i.plan);
    const card = approvalCard({
      ...facts,
      rules: (i.plan.rules ?? []).filter((r) => r.mode === 'enforce' && r.outcome === 'escalate').map((r) => r.id),
      reason: i.plan.reason?.message,
      provisions: i.plan.reach === 'person-lacks',
      step: i.step,
      deadline: i.deadline,
      now: new Date(this.now()).toISOString(),
    });
    // Approvers of an earlier step can no longer answer: their cards say so.
    const movedOn = hold.messages.filter((m) => !i.approverIds.includes(m.approverId));
    if (movedOn.length) {
      const moved = decidedCard({ ...this.decidedFacts(facts, 'approval'), outcome: 'moved_on', at: new Date(this.now()).toISOString() });
      for (const m of movedOn) await this.update(m, moved, i.approvalId);
    }
    await this.deliver(hold, i.approverIds, card, { taskId: i.taskId, kind: 'approval', refresh: !retry });
  }

  /** DMs the delegating person a Confirm / Decline card (once per approval). */
  async askConfirmation(i: AskConfirmation): Promise<void> {
    const { approvals, slack, log } = this.deps;
    const task = await this.task(i.taskId);
    await approvals.setAnswerers(i.approvalId, [task.userId]);
    if (!slack) {
      log.info('slack not configured: confirmation recorded, no card posted', { approvalId: i.approvalId, taskId: i.taskId, personId: task.userId });
      return;
    }
    const hold = await this.hold(i.approvalId);
    if (hold.messages.some((m) => m.approverId === task.userId)) return;
    const card = confirmationCard(await this.facts(i.taskId, i.approvalId, i.call, i.plan));
    await this.deliver(hold, [task.userId], card, { taskId: i.taskId, kind: 'confirmation', refresh: false });
  }

  /** Every card of the approval now says who decided what and when (or that it timed out / was cancelled). */
  async updateCards(i: CardsOutcome): Promise<void> {
    const { slack, log } = this.deps;
    const hold = await this.deps.approvals.get(i.approvalId);
    if (!hold || !slack || !hold.messages.length) {
      log.info('no cards to update', { approvalId: i.approvalId, outcome: i.outcome, slack: !!slack });
      return;
    }
    const policy = this.deps.policy.active();
    const task = await this.task(hold.taskId);
    const [delegator, agent, by] = await Promise.all([
      this.deps.directory.person(task.userId),
      this.deps.directory.agent(task.agentId),
      i.by ? this.deps.directory.person(i.by) : undefined,
    ]);
    const tool = policy.tool(hold.toolId);
    const app = tool && policy.app(tool.app);
    const card = decidedCard({
      kind: hold.kind,
      delegator: cardPerson(delegator, task.userId),
      agent: { id: task.agentId, name: agent?.name },
      tool: { id: hold.toolId },
      app: app && { id: app.id, name: app.name },
      outcome: i.outcome,
      by: i.by ? cardPerson(by, i.by) : undefined,
      at: i.at,
      comment: i.comment,
    });
    for (const m of hold.messages) await this.update(m, card, i.approvalId);
  }

  /** Posts the card to each person without one yet (recording it at once); `refresh` updates the others' in place. */
  private async deliver(hold: HoldRecord, personIds: string[], card: Card, ctx: { taskId: string; kind: HoldRecord['kind']; refresh: boolean }): Promise<void> {
    const { approvals, identities, directory, log } = this.deps;
    const slack = this.deps.slack!;
    const refused: string[] = [];
    let delivered = 0;
    for (const personId of personIds) {
      const existing = hold.messages.find((m) => m.approverId === personId);
      if (existing) {
        if (ctx.refresh) await this.update(existing, card, hold.approvalId);
        delivered++;
        continue;
      }
      const person = await directory.person(personId);
      const user = person && (await identities.slackUserOf(person));
      if (!user) {
        log.warn('no Slack user for this person: no card', { approvalId: hold.approvalId, personId });
        continue;
      }
      try {
        const res = await slack.chat.postMessage({
          channel: user,
          text: card.text,
          blocks: card.blocks,
          unfurl_links: false,
          metadata: { event_type: `${ctx.kind}_requested`, event_payload: { approvalId: hold.approvalId, taskId: ctx.taskId } },
        });
        await approvals.addMessages(hold.approvalId, [{ channel: res.channel!, ts: res.ts!, approverId: personId }]);
        delivered++;
        log.info('card posted', { approvalId: hold.approvalId, personId, kind: ctx.kind, channel: res.channel, ts: res.ts });
      } catch (err) {
        const failure = classifySlackFailure(err);
        if (failure.kind !== 'rejected') throw err;
        refused.push(`${personId}: ${failure.error}`);
        log.warn('slack refused the card', { approvalId: hold.approvalId, personId, error: failure.error });
      }
    }
    if (!delivered && refused.length) throw new NotifyRefused('slack_rejected', `Slack refused every card: ${refused.join(', ')}`);
  }

  private async update(m: HoldRecord['messages'][number], card: Card, approvalId: string): Promise<void> {
    try {
      await this.deps.slack!.chat.update({ channel: m.channel, ts: m.ts, text: card.text, blocks: card.blocks });
    } catch (err) {
      const failure = classifySlackFailure(err);
      if (failure.kind !== 'rejected') throw err;
      // A deleted message or a closed DM: nothing left to update.
      this.deps.log.warn('slack refused a card update', { approvalId, personId: m.approverId, error: failure.error });
    }
  }

  private async facts(taskId: string, approvalId: string, call: ToolCallRequest, plan: EvaluatedPlan): Promise<HeldCallFacts> {
    const policy = this.deps.policy.active();
    const task = await this.task(taskId);
    const [delegator, agent] = await Promise.all([this.deps.directory.person(task.userId), this.deps.directory.agent(task.agentId)]);
    const tool = policy.tool(call.toolId);
    const app = policy.app(plan.appId ?? tool?.app ?? '');
    return {
      approvalId,
      digest: plan.digest,
      delegator: cardPerson(delegator, task.userId),
      agent: { id: task.agentId, name: agent?.name },
      purpose: task.purpose,
      tool: { id: call.toolId, action: tool?.action ?? plan.actionClass, description: tool?.description ?? '', arguments: tool?.arguments ?? {} },
      app,
      args: call.arguments,
    };
  }

  private decidedFacts(f: HeldCallFacts, kind: HoldRecord['kind']) {
    return { kind, delegator: f.delegator, agent: f.agent, tool: { id: f.tool.id }, app: f.app && { id: f.app.id, name: f.app.name } };
  }

  private async task(taskId: string): Promise<TaskRecord> {
    const task = await this.deps.tasks.get(taskId);
    if (!task) throw new NotifyRefused('task_not_found', `Task ${taskId} has no projection.`);
    return task;
  }

  private async hold(approvalId: string): Promise<HoldRecord> {
    const hold = await this.deps.approvals.get(approvalId);
    if (!hold) throw new NotifyRefused('approval_not_found', `Approval ${approvalId} is not recorded.`);
    return hold;
  }
}

export function cardPerson(p: DirectoryPerson | undefined, id: string): CardPerson {
  return { id, name: p?.displayName ?? p?.userName ?? id, title: p?.title, department: p?.department };
}
