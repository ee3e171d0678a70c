// What a click on a card does: find the held call, map the Slack user to a directory person, refuse
// what cannot stand (self-approval, not an approver, stale digest, already decided), else sign the
// answer (JWS) and send it to the task workflow, whose update validator has the final word.
import type { HoldRecord } from '../approvals/approval-repository';
import type { ApprovalSigner } from '../approvals/approval-signing';
import type { DirectoryPerson } from '../directory/person';
import type { TaskRecord } from '../tasks/task-repository';
import type { ApprovalAnswer } from '../../workflows/messages';
import type { ApprovalAnswers } from './approval-answers';
import { APPROVAL_ACTIONS, CONFIRMATION_ACTIONS, outcomeText, parseButtonValue, slackDate } from './cards';

export interface ApprovalClick {
  /** The Slack user who clicked. */
  slackUserId: string;
  /** The button's action_id: approve_once, approve_task, deny, confirm, decline. */
  action: string;
  /** The button's value: approval id and the digest the card was built from. */
  value?: string;
  comment?: string;
}

export type ClickResult = { kind: 'accepted'; taskId: string; answer: ApprovalAnswer } | { kind: 'refused'; code: string; message: string };

export interface ApprovalActionsDeps {
  approvals: { get(approvalId: string): Promise<HoldRecord | undefined> };
  tasks: { get(taskId: string): Promise<TaskRecord | undefined> };
  directory: { person(id: string): Promise<DirectoryPerson | undefined> };
  identities: { personOf(slackUserId: string): Promise<DirectoryPerson | undefined> };
  signer: ApprovalSigner;
  answers: ApprovalAnswers;
  now?: () => number;
}

const MAX_COMMENT = 500;
const refuse = (code: string, message: string): ClickResult => ({ kind: 'refused', code, message });

export class ApprovalActions {
  private readonly now: () => number;

  constructor(private readonly deps: ApprovalActionsDeps) {
    this.now = deps.now ?? Date.now;
  }

  async click(c: ApprovalClick): Promise<ClickResult> {
    const value = parseButtonValue(c.value);
    if (!value) return refuse('invalid_button', 'This button does not belong to a request we sent.');
    const hold = await this.deps.approvals.get(value.approvalId);
    if (!hold) return refuse('unknown_approval', 'This request is not known (any more).');
    const person = await this.deps.identities.personOf(c.slackUserId);
    if (!person?.active) return refuse('unknown_person', 'Your Slack account is not linked to an active person in the directory.');
    if (hold.status !== 'pending') return refuse('already_decided', await this.decided(hold));
    const task = await this.deps.tasks.get(hold.taskId);
    if (!task || task.status !== 'active') return refuse('task_not_active', 'The task has ended: this request is no longer pending.');

    const confirming = hold.kind === 'confirmation';
    const choices: readonly string[] = confirming ? CONFIRMATION_ACTIONS : APPROVAL_ACTIONS;
    if (!choices.includes(c.action)) return refuse('invalid_choice', `${c.action} does not answer a ${hold.kind}.`);
    if (!confirming && person.id === task.userId) return refuse('self_approval', 'You delegated this task: someone else must approve it.');
    if (confirming && person.id !== task.userId) return refuse('not_the_person', 'Only the person who delegated the task can confirm.');
    if (!confirming && !hold.approverIds.includes(person.id)) return refuse('not_an_approver', 'You are not an approver of this step.');
    if (value.digest !== hold.digest) return refuse('stale_digest', 'The call changed since this card was sent; it cannot be answered from here.');

    const at = new Date(this.now()).toISOString();
    const comment = c.action === 'deny' || c.action === 'decline' ? c.comment?.trim().slice(0, MAX_COMMENT) || undefined : undefined;
    const choice = c.action as ApprovalAnswer['choice'];
    const jws = await this.deps.signer.sign({
      approvalId: hold.approvalId,
      taskId: hold.taskId,
      callId: hold.callId,
      digest: value.digest,
      policyVersion: hold.policyVersion,
      personId: person.id,
      choice,
      ...(comment ? { comment } : {}),
      at,
    });
    const answer: ApprovalAnswer = { approvalId: hold.approvalId, digest: value.digest, personId: person.id, choice, ...(comment ? { comment } : {}), at, jws };
    // One Update per person and choice: a double click is deduplicated, while a second approver's
    // click (or the same person's other button) reaches the validator and learns who decided.
    const result = await this.deps.answers.submit(hold.taskId, answer, `answer-${hold.approvalId}-${person.id}-${choice}`);
    return result.accepted ? { kind: 'accepted', taskId: hold.taskId, answer } : refuse(result.code, result.message);
  }

  private async decided(hold: HoldRecord): Promise<string> {
    if (!hold.decidedBy) return `This request is closed (${outcomeText(hold.status)}).`;
    const by = await this.deps.directory.person(hold.decidedBy);
    const when = hold.decidedAt ? ` at ${slackDate(hold.decidedAt)}` : '';
    return `Already decided by ${by?.displayName ?? hold.decidedBy} (${outcomeText(hold.choice ?? hold.status)})${when}.`;
  }
}
