// The Bolt app of the API: card buttons → ApprovalActions → the task workflow; refusals as ephemeral
// messages, accepted answers update every card of the approval. HTTP through our own receiver at
// POST /slack/events, or Socket Mode when SLACK_APP_TOKEN is set.
import { App, LogLevel, type BlockAction, type ButtonAction, type Logger } from '@slack/bolt';
import type { OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import pino from 'pino';
import type { ApprovalRepository } from '../approvals/approval-repository';
import { ApprovalSigner } from '../approvals/approval-signing';
import type { Config } from '../config/config';
import type { SqlClient } from '../db/sql';
import type { TaskRecord } from '../tasks/task-repository';
import { ApprovalActions } from './approval-actions';
import type { ApprovalAnswers } from './approval-answers';
import { ApprovalNotifier, type NotifierDirectory, type PolicyView } from './approval-notifier';
import { APPROVAL_ACTIONS, COMMENT_ACTION, COMMENT_BLOCK, CONFIRMATION_ACTIONS } from './cards';
import { SlackIdentities } from './slack-identities';
import { SignedRequestReceiver, type SlackHttpRequest, type SlackHttpResponse } from './slack-receiver';
import { slackWebClient, slackWebClientOptions } from './slack-web-client';

/** What the Slack surface reads from the process's services. */
export interface SlackServices {
  config: Pick<Config, 'slack' | 'approvalSigningKey' | 'logLevel'>;
  db: SqlClient;
  directory: NotifierDirectory;
  approvals: ApprovalRepository;
  tasks: { get(taskId: string): Promise<TaskRecord | undefined> };
  policy: { active(): PolicyView };
}

const BUTTONS = new RegExp(`^(${[...APPROVAL_ACTIONS, ...CONFIRMATION_ACTIONS].join('|')})$`);

/** Bolt logs through pino: one structured line per event. */
function boltLogger(log: pino.Logger): Logger {
  let level = LogLevel.INFO;
  const text = (msg: unknown[]) => msg.map((m) => (m instanceof Error ? m.message : typeof m === 'string' ? m : JSON.stringify(m))).join(' ');
  return {
    debug: (...m: unknown[]) => log.debug(text(m)),
    info: (...m: unknown[]) => log.info(text(m)),
    warn: (...m: unknown[]) => log.warn(text(m)),
    error: (...m: unknown[]) => log.error(text(m)),
    setLevel: (l: LogLevel) => void (level = l),
    getLevel: () => level,
    setName: () => undefined,
  };
}

export class SlackSurface implements OnApplicationBootstrap, OnApplicationShutdown {
  constructor(
    readonly app: App,
    readonly receiver: SignedRequestReceiver | undefined,
    private readonly socketMode: boolean,
  ) {}

  /** POST /slack/events; 404 in Socket Mode (events arrive over the socket). */
  handleHttp(req: SlackHttpRequest): Promise<SlackHttpResponse> {
    return this.receiver ? this.receiver.handle(req) : Promise.resolve({ status: 404, headers: {}, body: '' });
  }

  async onApplicationBootstrap(): Promise<void> {
    if (this.socketMode) await this.app.start();
  }

  async onApplicationShutdown(): Promise<void> {
    if (this.socketMode) await this.app.stop();
  }
}

/**
 * The Slack surface, or undefined when Slack is not configured (no SLACK_BOT_TOKEN, or neither
 * SLACK_SIGNING_SECRET nor SLACK_APP_TOKEN). Approvals are signed, so APPROVAL_SIGNING_KEY is then required.
 */
export function createSlackSurface(services: SlackServices, answers: ApprovalAnswers, opts: { now?: () => number } = {}): SlackSurface | undefined {
  const { slack, approvalSigningKey, logLevel } = services.config;
  const socketMode = !!slack.appToken;
  if (!slack.botToken || (!slack.signingSecret && !socketMode)) return undefined;
  if (!approvalSigningKey) throw new Error('APPROVAL_SIGNING_KEY=: required when Slack is configured (every approval is signed)');

  const log = pino({ name: 'slack', level: logLevel });
  const logger = boltLogger(log);
  const web = slackWebClient(slack)!;
  const identities = new SlackIdentities(services.db, services.directory, web);
  const notifier = new ApprovalNotifier({ ...services, identities, slack: web, log: { info: (m, a) => log.info(a ?? {}, m), warn: (m, a) => log.warn(a ?? {}, m) }, now: opts.now });
  const actions = new ApprovalActions({ ...services, identities, signer: new ApprovalSigner(approvalSigningKey), answers, now: opts.now });

  const receiver = socketMode ? undefined : new SignedRequestReceiver({ signingSecret: slack.signingSecret!, logger, now: opts.now });
  let botIdentity: Promise<{ botUserId?: string; botId?: string }> | undefined;
  const app = new App({
    ...(receiver ? { receiver } : { socketMode: true, appToken: slack.appToken }),
    // Our own authorize: auth.test once, on the first event (Bolt's default calls it at construction).
    // Slack may deliver a click while its Web API fails: the click is handled without the bot's ids
    // (only Bolt's ignore-self needs them, for message events), and auth.test is asked again next time.
    authorize: async () => {
      botIdentity ??= web.auth.test().then(
        (r) => ({ botUserId: r.user_id, botId: r.bot_id }),
        (err: unknown) => {
          botIdentity = undefined;
          log.warn({ err: err instanceof Error ? err.message : String(err) }, 'slack auth.test failed; handling the event without the bot identity');
          return {};
        },
      );
      return { botToken: slack.botToken, ...(await botIdentity) };
    },
    clientOptions: { ...slackWebClientOptions(slack), retryConfig: { retries: 2 }, rejectRateLimitedCalls: false },
    logger,
    convoStore: false,
  });

  app.action<BlockAction<ButtonAction>>({ type: 'block_actions', action_id: BUTTONS }, async ({ ack, body, action, client }) => {
    await ack();
    const comment = body.state?.values?.[COMMENT_BLOCK]?.[COMMENT_ACTION]?.value ?? undefined;
    const result = await actions.click({ slackUserId: body.user.id, action: action.action_id, value: action.value, comment });
    if (result.kind === 'refused') {
      log.info({ code: result.code, slackUserId: body.user.id }, 'slack answer refused');
      await client.chat.postEphemeral({ channel: body.channel?.id ?? body.user.id, user: body.user.id, text: `:no_entry: ${result.message}` });
      return;
    }
    const { answer } = result;
    log.info({ approvalId: answer.approvalId, taskId: result.taskId, personId: answer.personId, choice: answer.choice }, 'slack answer accepted');
    // The workflow updates the cards again with the final outcome; this one is for the clicker, now.
    await notifier
      .updateCards({ approvalId: answer.approvalId, outcome: answer.choice, by: answer.personId, at: answer.at, comment: answer.comment })
      .catch((err: unknown) => log.warn({ approvalId: answer.approvalId, err: err instanceof Error ? err.message : String(err) }, 'card update failed'));
  });

  return new SlackSurface(app, receiver, socketMode);
}
