// Sends a workflow Update, waiting out a workflow whose workflow task is failing.
// While a task workflow's workflow task fails (its worker stopped or crashed mid-task, and no
// attempt has succeeded since), Temporal refuses each new Update at once (FAILED_PRECONDITION),
// and an Update whose workflow task failed under it comes back failed by the server, never having
// reached the workflow code. Both pass within seconds once a worker runs the task again, so the
// request sends the Update again (its id keeps it one Update) for a bounded time, instead of
// failing with a 500 (or a 400, as if the call were invalid); past that it is a 503 to retry.
import { isGrpcServiceError, ServiceError, WorkflowUpdateFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { Problem } from '../http/problem';

/** How long a request waits for a failing workflow task to recover. */
export const UPDATE_RECOVERY_SECONDS = 5;

/** gRPC's status code FAILED_PRECONDITION: what the server answers an Update then. */
const FAILED_PRECONDITION = 9;
const FIRST_PAUSE_MS = 100;
const MAX_PAUSE_MS = 1000;

/**
 * Failures the server gives an Update that no handler answered: its workflow task failed under it
 * (unprocessed), or the workflow completed first (the next attempt finds no workflow).
 */
const SERVER_FAILURES = new Set(['UnprocessedUpdate', 'AcceptedUpdateCompletedWorkflow']);

/** The Update did not reach the workflow code (what a handler or validator throws is an answer). */
export function notDelivered(err: unknown): boolean {
  if (err instanceof WorkflowUpdateFailedError) return err.cause instanceof ApplicationFailure && SERVER_FAILURES.has(err.cause.type ?? '');
  return err instanceof ServiceError && isGrpcServiceError(err.cause) && err.cause.code === FAILED_PRECONDITION;
}

/**
 * Runs `send` (an executeUpdate, with an update id where a repeat must be one Update) again while
 * the Update is not delivered, for up to `seconds`; then answers 503 `workflow_unavailable`.
 */
export async function updateWhenReady<T>(send: () => Promise<T>, seconds = UPDATE_RECOVERY_SECONDS): Promise<T> {
  const deadline = Date.now() + seconds * 1000;
  for (let pause = FIRST_PAUSE_MS; ; pause = Math.min(MAX_PAUSE_MS, pause * 2)) {
    try {
      return await send();
    } catch (err) {
      if (!notDelivered(err)) throw err;
      if (Date.now() + pause > deadline) {
        throw new Problem(503, 'workflow_unavailable', "The task's workflow cannot take requests now (its last step failed and is being retried); retry shortly.", {
          retryAfterMs: MAX_PAUSE_MS,
        });
      }
      await new Promise((r) => setTimeout(r, pause));
    }
  }
}
