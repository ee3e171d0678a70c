// The workflow port: an accepted Update, and the validator's refusals turned into reason codes.
import { WorkflowUpdateFailedError, type Client } from '@temporalio/client';
import { ApplicationFailure, WorkflowNotFoundError } from '@temporalio/common';
import { temporalApprovalAnswers } from '../../src/slack/approval-answers';
import type { ApprovalAnswer } from '../../workflows/messages';

const answer: ApprovalAnswer = { approvalId: 'ap-1', digest: 'sha256:x', personId: 'bob', choice: 'approve_once', at: '2025-01-02T03:04:05.000Z', jws: 'a.b.c' };

function client(outcome: () => Promise<unknown>, seen: unknown[] = []): Pick<Client, 'workflow'> {
  const handle = { executeUpdate: (def: unknown, opts: unknown) => (seen.push({ def, opts }), outcome()) };
  return { workflow: { getHandle: (id: string) => (seen.push(id), handle) } } as unknown as Pick<Client, 'workflow'>;
}

describe('approval answers to the task workflow', () => {
  it('sends the answer as the answerApproval Update with the given update id', async () => {
    const seen: unknown[] = [];
    await expect(temporalApprovalAnswers(client(async () => ({ accepted: true }), seen)).submit('t1', answer, 'answer-ap-1-bob-approve_once')).resolves.toEqual({ accepted: true });
    expect(seen[0]).toBe('task-t1');
    expect(seen[1]).toMatchObject({ def: { name: 'answerApproval' }, opts: { args: [answer], updateId: 'answer-ap-1-bob-approve_once' } });
  });

  it.each(['self_approval', 'not_an_approver', 'stale_digest', 'already_decided'])('maps the validator refusal %s to its code', async (type) => {
    const refused = new WorkflowUpdateFailedError('Workflow Update failed', ApplicationFailure.create({ type, message: `refused: ${type}`, nonRetryable: true }));
    await expect(temporalApprovalAnswers(client(() => Promise.reject(refused))).submit('t1', answer, 'u')).resolves.toEqual({ accepted: false, code: type, message: `refused: ${type}` });
  });

  it('says the task has ended when its workflow is gone, and lets other faults through', async () => {
    const gone = new WorkflowNotFoundError('workflow execution already completed', 'task-t1', undefined);
    await expect(temporalApprovalAnswers(client(() => Promise.reject(gone))).submit('t1', answer, 'u')).resolves.toMatchObject({ accepted: false, code: 'task_not_active' });
    await expect(temporalApprovalAnswers(client(() => Promise.reject(new Error('connection reset')))).submit('t1', answer, 'u')).rejects.toThrow('connection reset');
  });
});
