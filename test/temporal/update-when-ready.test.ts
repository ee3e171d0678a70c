// Which Update errors are waited out (the Update never reached the workflow code) and which are
// answers; the errors are the ones the Temporal client throws, built as it builds them.
import { ServiceError, WorkflowNotFoundError, WorkflowUpdateFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { Problem } from '../../src/http/problem';
import { notDelivered, updateWhenReady } from '../../src/temporal/update-when-ready';

const grpc = (code: number, details: string) => Object.assign(new Error(`${code} ${details}`), { code, details, metadata: {} });
const taskFailing = () =>
  new ServiceError('Workflow Update failed', { cause: grpc(9, 'Unable to perform workflow execution update due to Workflow Task in failed state.') });
// The server's own failures of an Update are application failures of its types (temporal's service/history/workflow/update).
const serverFailed = (type: string, message: string) =>
  new WorkflowUpdateFailedError('Workflow Update failed', ApplicationFailure.create({ type, message, nonRetryable: true }));
const unprocessed = () => serverFailed('UnprocessedUpdate', "Workflow Update is rejected because it wasn't processed by worker.");
const overtaken = () => serverFailed('AcceptedUpdateCompletedWorkflow', 'Workflow Update failed because the Workflow completed before the Update completed.');
const refusedByValidator = () => new WorkflowUpdateFailedError('Workflow Update failed', ApplicationFailure.create({ type: 'InvalidToolCall', message: 'callId and toolId are required' }));

describe('notDelivered', () => {
  it('is true for a refusal while the workflow task fails and for an Update the server failed', () => {
    expect(notDelivered(taskFailing())).toBe(true);
    expect(notDelivered(unprocessed())).toBe(true);
    expect(notDelivered(overtaken())).toBe(true);
  });

  it('is false for what the workflow answered, a missing workflow, other server errors and anything else', () => {
    expect(notDelivered(refusedByValidator())).toBe(false);
    expect(notDelivered(new WorkflowNotFoundError('not found', 'task-1', undefined))).toBe(false);
    expect(notDelivered(new ServiceError('Workflow Update failed', { cause: grpc(14, 'unavailable') }))).toBe(false);
    expect(notDelivered(new Error('boom'))).toBe(false);
  });
});

describe('updateWhenReady', () => {
  it('sends again until the Update is delivered, and returns its outcome', async () => {
    const failures = [taskFailing(), unprocessed(), overtaken()];
    let sent = 0;
    const outcome = await updateWhenReady(async () => {
      sent++;
      const failure = failures.shift();
      if (failure) throw failure;
      return 'decided';
    });
    expect(outcome).toBe('decided');
    expect(sent).toBe(4);
  });

  it('answers 503 workflow_unavailable once the time is spent, having sent it a few times', async () => {
    let sent = 0;
    const started = Date.now();
    const err = await updateWhenReady(async () => {
      sent++;
      throw taskFailing();
    }, 0.5).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Problem);
    expect(err).toMatchObject({ status: 503, code: 'workflow_unavailable', extra: { retryAfterMs: 1000 } });
    expect(sent).toBeGreaterThanOrEqual(3);
    expect(Date.now() - started).toBeLessThan(1500);
  });

  it('passes any other error on at once', async () => {
    for (const make of [refusedByValidator, () => new WorkflowNotFoundError('not found', 'task-1', undefined), () => new Error('boom')]) {
      let sent = 0;
      const thrown = make();
      await expect(
        updateWhenReady(async () => {
          sent++;
          throw thrown;
        }),
      ).rejects.toBe(thrown);
      expect(sent).toBe(1);
    }
  });
});
