// Slack notifications for held calls: who answers next, the cards, their updates. Thin adapter over
// ApprovalNotifier that turns Slack's answers into Temporal retry decisions (429 → retry exactly
// after Retry-After; 5xx and network → retried by the `notify` profile; refusals → not retried).
import { ApplicationFailure, asyncLocalStorage, log as activityLog } from '@temporalio/activity';
import type { ApprovalRepository } from '../src/approvals/approval-repository';
import type { ApproverStep } from '../src/approvals/approver-routing';
import type { SqlClient } from '../src/db/sql';
import {
  ApprovalNotifier,
  NotifyRefused,
  type AskApprovers,
  type AskConfirmation,
  type CardsOutcome,
  type NotifierDirectory,
  type NotifyLog,
  type PolicyView,
} from '../src/slack/approval-notifier';
import { SlackIdentities } from '../src/slack/slack-identities';
import { classifySlackFailure, type SlackWebApi } from '../src/slack/slack-web-client';
import type { TaskRepository } from '../src/tasks/task-repository';

export interface NotifyDeps {
  db: SqlClient;
  directory: NotifierDirectory;
  approvals: ApprovalRepository;
  tasks: TaskRepository;
  policy: { active(): PolicyView };
  /** The bot's Web API client (`slackWebClient(config.slack)`); undefined when Slack is not configured. */
  slack?: SlackWebApi;
  /** Defaults to the activity's logger (Temporal attaches workflow and activity ids). */
  notifyLog?: NotifyLog;
}

/** Temporal's activity logger inside an activity; silent when called outside one (unit tests). */
const contextLog: NotifyLog = {
  info: (message, attrs) => void (asyncLocalStorage.getStore() && activityLog.info(message, attrs)),
  warn: (message, attrs) => void (asyncLocalStorage.getStore() && activityLog.warn(message, attrs)),
};

/** Maps a failure to what Temporal should do with it. */
export function toActivityFailure(err: unknown): Error {
  if (err instanceof NotifyRefused) return ApplicationFailure.create({ type: err.code, message: err.message, nonRetryable: true });
  const failure = classifySlackFailure(err);
  if (failure.kind === 'rate_limited') {
    return ApplicationFailure.create({
      type: 'SlackRateLimited',
      message: `Slack rate limit: retry in ${failure.retryAfterSeconds}s`,
      nextRetryDelay: Math.max(1, failure.retryAfterSeconds) * 1000,
      cause: err as Error,
    });
  }
  if (failure.kind === 'rejected') {
    return ApplicationFailure.create({ type: 'SlackRejected', message: `Slack refused the call: ${failure.error}`, nonRetryable: true, cause: err as Error });
  }
  return err instanceof Error ? err : new Error(String(err));
}

export function createNotifyActivities(deps: NotifyDeps) {
  const notifier = new ApprovalNotifier({
    directory: deps.directory,
    approvals: deps.approvals,
    tasks: deps.tasks,
    policy: deps.policy,
    slack: deps.slack,
    identities: new SlackIdentities(deps.db, deps.directory, deps.slack),
    log: deps.notifyLog ?? contextLog,
  });
  const guarded = async <T>(fn: () => Promise<T>): Promise<T> => {
    try {
      return await fn();
    } catch (err) {
      throw toActivityFailure(err);
    }
  };

  return {
    /** The route's next step with somebody reachable, from `fromStep` on; undefined when none is left. */
    nextApprovers(i: { taskId: string; appId: string; route: string; fromStep: number }): Promise<ApproverStep | undefined> {
      return guarded(() => notifier.nextApprovers(i));
    },
    /** A card to each approver of the step (DM), recorded on the approval row; idempotent across retries. */
    askApprovers(i: AskApprovers): Promise<void> {
      return guarded(() => notifier.askApprovers(i));
    },
    /** A Confirm / Decline card to the delegating person. */
    askConfirmation(i: AskConfirmation): Promise<void> {
      return guarded(() => notifier.askConfirmation(i));
    },
    /** Every card of the approval updated in place: who decided what and when, or timed out / cancelled. */
    updateCards(i: CardsOutcome): Promise<void> {
      return guarded(() => notifier.updateCards(i));
    },
  };
}
