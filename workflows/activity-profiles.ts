// Timeouts and retry policies, as named profiles per kind of work.
import { proxyActivities, proxyLocalActivities, type ActivityOptions } from '@temporalio/workflow';
import type { TaskActivities } from '../activities';

/** Decisions and projection writes: short, retried quickly. */
const SHORT = {
  startToCloseTimeout: '10 seconds',
  retry: { initialInterval: '100 milliseconds', maximumInterval: '5 seconds' },
} satisfies ActivityOptions;

export const acts = proxyActivities<TaskActivities>(SHORT);

/**
 * The task workflow's decisions and projection writes as local activities: run by the worker that
 * runs the workflow, with no round trip through the server to schedule them — a decision that
 * changes the context costs one workflow task instead of one per step.
 */
export const local = proxyLocalActivities<TaskActivities>(SHORT);

/**
 * The same local activities, run one at a time (each starts once the one before it settled).
 * Concurrent local activities of one run (a held call's decision beside a new call's, two approval
 * steps) were recorded in an order their replay could not reproduce, the completions falling into
 * other activations, so a worker that replayed such a history failed it as nondeterministic.
 */
export function oneAtATime(acts: typeof local): typeof local {
  let last: Promise<unknown> = Promise.resolve();
  return new Proxy(acts, {
    get(target, name: keyof typeof local) {
      return (...args: unknown[]) => {
        const run = last.then(() => (target[name] as (...a: unknown[]) => Promise<unknown>)(...args));
        last = run.catch(() => undefined);
        return run;
      };
    },
  });
}

/**
 * Slack posts: retried while Slack is down (a 429's Retry-After sets the next delay), for at most a
 * day: a card that never arrives delays no decision, because the approval step's timer runs anyway.
 */
export const notify = proxyActivities<TaskActivities>({
  startToCloseTimeout: '30 seconds',
  scheduleToCloseTimeout: '1 day',
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '2 minutes' },
});

/** Creating access in a target app: a few tries, then the saga compensates. */
export const provisioning = proxyActivities<TaskActivities>({
  startToCloseTimeout: '1 minute',
  heartbeatTimeout: '20 seconds',
  retry: { initialInterval: '500 milliseconds', maximumInterval: '10 seconds', maximumAttempts: 5, nonRetryableErrorTypes: ['ConnectorRejected', 'ConnectorMisconfigured'] },
});

/** Removing access: a larger budget; when it is spent the workflow alerts and keeps trying. */
const DEPROVISIONING = {
  startToCloseTimeout: '1 minute',
  heartbeatTimeout: '20 seconds',
  retry: { initialInterval: '500 milliseconds', maximumInterval: '30 seconds', maximumAttempts: 8 },
} satisfies ActivityOptions;
export const deprovisioning = proxyActivities<TaskActivities>(DEPROVISIONING);

/** The deprovisioning profile with another retry budget per round (`maximumAttempts`), or the default one. */
export function deprovisioningWithin(maximumAttempts?: number): typeof deprovisioning {
  if (!maximumAttempts) return deprovisioning;
  return proxyActivities<TaskActivities>({ ...DEPROVISIONING, retry: { ...DEPROVISIONING.retry, maximumAttempts } });
}
