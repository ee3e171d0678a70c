// The one way a human answer reaches a task workflow: the answerApproval Update, whose validator is
// the final guard (self-approval, not an approver, stale digest, already decided).
import { WorkflowNotFoundError, WorkflowUpdateFailedError, type Client } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { answerApprovalUpdate, taskWorkflowId, type ApprovalAnswer } from '../../workflows/messages';
import { Problem } from '../http/problem';
import { updateWhenReady } from '../temporal/update-when-ready';

export type AnswerResult = { accepted: true } | { accepted: false; code: string; message: string };

export interface ApprovalAnswers {
  /** `updateId` makes a repeated click (or a retried interaction) one Update. */
  submit(taskId: string, answer: ApprovalAnswer, updateId: string): Promise<AnswerResult>;
}

export function temporalApprovalAnswers(client: Pick<Client, 'workflow'>): ApprovalAnswers {
  return {
    async submit(taskId, answer, updateId) {
      try {
        const handle = client.workflow.getHandle(taskWorkflowId(taskId));
        await updateWhenReady(() => handle.executeUpdate(answerApprovalUpdate, { args: [answer], updateId }));
        return { accepted: true };
      } catch (err) {
        if (err instanceof WorkflowUpdateFailedError && err.cause instanceof ApplicationFailure) {
          return { accepted: false, code: err.cause.type ?? 'refused', message: err.cause.message };
        }
        if (err instanceof WorkflowNotFoundError) return { accepted: false, code: 'task_not_active', message: 'The task has ended: this request is no longer pending.' };
        // The clicker is told to click again (the click itself was acknowledged to Slack already).
        if (err instanceof Problem && err.code === 'workflow_unavailable') return { accepted: false, code: err.code, message: 'The task cannot take answers at the moment: click again shortly.' };
        throw err;
      }
    },
  };
}
