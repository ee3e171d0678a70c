// POST /slack/events over HTTP: Slack's signature, then card clicks through Bolt to the workflow port.
import { createHmac, randomUUID } from 'node:crypto';
import 'reflect-metadata';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import { ApprovalSignatureError, ApprovalSigner } from '../../src/approvals/approval-signing';
import type { AnswerResult, ApprovalAnswers } from '../../src/slack/approval-answers';
import { buttonValue } from '../../src/slack/cards';
import { SlackModule } from '../../src/slack/slack.module';
import type { ApprovalAnswer } from '../../workflows/messages';
import { startSlackDouble, type SlackDouble } from '../support/slack-double';
import { policy } from './fixtures';
import { DIGEST, openWorld, type World } from './world';

const SIGNING_SECRET = 'slack-signing-secret-for-tests';
const APPROVAL_KEY = 'approval-signing-key-for-tests-0123456789';

let world: World;
let slack: SlackDouble;
let api: NestFastifyApplication;
let baseUrl: string;
const submitted: { taskId: string; answer: ApprovalAnswer; updateId: string }[] = [];
let nextResult: AnswerResult = { accepted: true };
const answers: ApprovalAnswers = {
  async submit(taskId, answer, updateId) {
    submitted.push({ taskId, answer, updateId });
    return nextResult;
  },
};

beforeAll(async () => {
  world = await openWorld();
  slack = await startSlackDouble({ users: [{ id: 'U0ERIN', email: 'erin@example.com' }] });
  const services = {
    ...world,
    db: world.database.db,
    policy,
    config: { slack: { signingSecret: SIGNING_SECRET, botToken: 'xoxb-test', apiUrl: slack.url }, approvalSigningKey: APPROVAL_KEY, logLevel: 'silent' },
  };
  api = await NestFactory.create<NestFastifyApplication>(SlackModule.forRoot(services, answers), new FastifyAdapter(), { rawBody: true, logger: false });
  await api.listen(0, '127.0.0.1');
  baseUrl = (await api.getUrl()).replace('[::1]', '127.0.0.1');
});
afterAll(async () => {
  await api?.close();
  await slack?.stop();
  await world?.database.drop();
});
beforeEach(() => {
  slack.reset();
  submitted.length = 0;
  nextResult = { accepted: true };
});

const sign = (body: string, ts: number, secret = SIGNING_SECRET) => `v0=${createHmac('sha256', secret).update(`v0:${ts}:${body}`).digest('hex')}`;

async function post(body: string, opts: { contentType?: string; ts?: number; secret?: string; signature?: string } = {}) {
  const ts = opts.ts ?? Math.floor(Date.now() / 1000);
  const res = await fetch(`${baseUrl}/slack/events`, {
    method: 'POST',
    headers: {
      'content-type': opts.contentType ?? 'application/x-www-form-urlencoded',
      'x-slack-request-timestamp': String(ts),
      'x-slack-signature': opts.signature ?? sign(body, ts, opts.secret),
    },
    body,
  });
  return { status: res.status, text: await res.text() };
}

function click(slackUserId: string, action: string, value: unknown, comment?: string): string {
  return `payload=${encodeURIComponent(JSON.stringify(clickPayload(slackUserId, action, value, comment)))}`;
}

function clickPayload(slackUserId: string, action: string, value: unknown, comment?: string) {
  return {
    type: 'block_actions',
    team: { id: 'T0TEST', domain: 'acme' },
    user: { id: slackUserId, username: slackUserId.toLowerCase(), team_id: 'T0TEST' },
    api_app_id: 'A0TEST',
    token: 'legacy-verification-token',
    trigger_id: '1.2.3',
    container: { type: 'message', message_ts: '1700000000.000100', channel_id: `D${slackUserId.slice(1)}`, is_ephemeral: false },
    channel: { id: `D${slackUserId.slice(1)}`, name: 'directmessage' },
    message: { type: 'message', ts: '1700000000.000100', text: 'Approval needed' },
    state: { values: comment ? { comment: { comment: { type: 'plain_text_input', value: comment } } } : {} },
    response_url: `${slack.url}response`,
    actions: [{ type: 'button', action_id: action, block_id: 'approval:x', value, text: { type: 'plain_text', text: action }, action_ts: '1700000001.000200' }],
  };
}

/** A held call on a task of Alice's, waiting for `approverIds`, with a card already posted to each. */
async function pending(approverIds = ['bob', 'erin']) {
  const taskId = await world.task('alice');
  const { approvalId } = await world.hold(taskId);
  await world.approvals.setStep(approvalId, 0, approverIds, new Date(Date.now() + 900_000).toISOString());
  await world.approvals.addMessages(approvalId, approverIds.map((id, i) => ({ channel: `D0${id.toUpperCase()}`, ts: `1700000000.00010${i}`, approverId: id })));
  return { taskId, approvalId, value: buttonValue({ approvalId, digest: DIGEST }) };
}

const ephemeralTo = (slackUserId: string) => slack.waitFor('chat.postEphemeral', (c) => c.body.user === slackUserId);

// First in the file: the bot's identity is looked up on the first signed event, and kept.
describe("Slack's Web API down", () => {
  it("handles an approver's click that arrives while auth.test fails, and asks for the identity again later", async () => {
    const { value } = await pending();
    slack.failNext(1, { status: 500 }, 'auth.test');
    // Before: the click failed (500) on the identity lookup, and the approver's answer was lost.
    expect((await post(click('U0BOB', 'approve_task', value))).status).toBe(200);
    expect(submitted).toEqual([expect.objectContaining({ answer: expect.objectContaining({ personId: 'bob', choice: 'approve_task' }) })]);
    await slack.waitFor('chat.update');
    expect((await post(click('U0MALLORY', 'approve_once', value))).status).toBe(200);
    await ephemeralTo('U0MALLORY');
    expect(slack.callsOf('auth.test')).toHaveLength(2);
  });
});

describe('signature', () => {
  it('answers 401 and does nothing on a bad signature', async () => {
    const { value } = await pending();
    const body = click('U0BOB', 'approve_task', value);
    expect(await post(body, { secret: 'not-the-secret' })).toEqual({ status: 401, text: '' });
    expect(await post(body, { signature: 'v0=deadbeef' })).toEqual({ status: 401, text: '' });
    expect(await post(body, { signature: '' })).toEqual({ status: 401, text: '' });
    expect(slack.calls).toEqual([]);
    expect(submitted).toEqual([]);
  });

  it('answers 401 and does nothing on a stale (replayed) request', async () => {
    const { value } = await pending();
    expect(await post(click('U0BOB', 'approve_task', value), { ts: Math.floor(Date.now() / 1000) - 6 * 60 })).toEqual({ status: 401, text: '' });
    expect(slack.calls).toEqual([]);
    expect(submitted).toEqual([]);
  });

  it('answers a signed request it does not understand without a server error, submitting nothing', async () => {
    const { value } = await pending();
    const form = (payload: unknown) => `payload=${encodeURIComponent(typeof payload === 'string' ? payload : JSON.stringify(payload))}`;
    const bodies: [string, string?][] = [
      [form('not json')],
      [form([1, 2, 3])],
      [form({ type: 'block_actions' })],
      [form({ type: 'view_submission', view: { id: 'V1', callback_id: 'unknown', state: { values: {} } }, user: { id: 'U0BOB' } })],
      [form({ type: 'shortcut', callback_id: 'unknown', user: { id: 'U0BOB' }, trigger_id: '1' })],
      [click('U0BOB', 'unknown_action', value)],
      [click('U0BOB', 'approve_task', 'not-a-button-value')],
      [click('U0BOB', 'approve_task', `${value}\u0000`)],
      [click('U0BOB', 'approve_task', 12)],
      [click('U0BOB', 'deny', null)],
      [JSON.stringify({ type: 'event_callback', event: { type: 'app_mention', text: 'hi' } }), 'application/json'],
      [JSON.stringify({ type: 'something_else' }), 'application/json'],
      ['{"type":', 'application/json'],
      ['', 'application/x-www-form-urlencoded'],
    ];
    for (const [body, contentType] of bodies) {
      const res = await post(body, { contentType });
      expect({ body: body.slice(0, 80), status: res.status < 500 }).toEqual({ body: body.slice(0, 80), status: true });
    }
    expect(submitted).toEqual([]);
  });

  it("answers Slack's url_verification challenge", async () => {
    const body = JSON.stringify({ type: 'url_verification', token: 't', challenge: 'c-123' });
    const res = await post(body, { contentType: 'application/json' });
    expect(res).toEqual({ status: 200, text: JSON.stringify({ challenge: 'c-123' }) });
  });
});

describe('card clicks', () => {
  it('refuses a person who is not an approver of the step, ephemerally, with no workflow update', async () => {
    const { value } = await pending();
    expect((await post(click('U0MALLORY', 'approve_once', value))).status).toBe(200);
    const refusal = await ephemeralTo('U0MALLORY');
    expect(refusal.body).toMatchObject({ channel: 'D0MALLORY', text: expect.stringContaining('You are not an approver of this step') });
    expect(submitted).toEqual([]);
    expect(slack.callsOf('chat.update')).toEqual([]);
  });

  it('refuses self-approval by the person who delegated the task', async () => {
    const { value } = await pending();
    await post(click('U0ALICE', 'approve_task', value));
    expect((await ephemeralTo('U0ALICE')).body.text).toContain('You delegated this task: someone else must approve it');
    expect(submitted).toEqual([]);
  });

  it('refuses a card whose call digest no longer matches', async () => {
    const { approvalId } = await pending();
    await post(click('U0BOB', 'approve_task', buttonValue({ approvalId, digest: `sha256:${'ef'.repeat(32)}` })));
    expect((await ephemeralTo('U0BOB')).body.text).toContain('The call changed since this card was sent');
    expect(submitted).toEqual([]);
  });

  it('tells a late clicker who already decided, and when', async () => {
    const { approvalId, value } = await pending();
    await world.approvals.close(approvalId, 'approved', { personId: 'erin', choice: 'approve_once', at: '2025-01-02T03:04:05.000Z' });
    await post(click('U0BOB', 'deny', value));
    expect((await ephemeralTo('U0BOB')).body.text).toContain('Already decided by Erin Email (✅ Approved once) at <!date^1735787045^');
    expect(submitted).toEqual([]);
  });

  it('signs an approver’s answer, sends it to the task workflow once per person and choice, and updates the cards', async () => {
    const { taskId, approvalId, value } = await pending();
    await post(click('U0BOB', 'approve_task', value));
    await slack.waitFor('chat.update', (c) => c.body.channel === 'D0BOB');
    await slack.waitFor('chat.update', (c) => c.body.channel === 'D0ERIN');
    expect(submitted).toHaveLength(1);
    const [{ answer, updateId }] = submitted;
    expect(submitted[0].taskId).toBe(taskId);
    expect(updateId).toBe(`answer-${approvalId}-bob-approve_task`);
    expect(answer).toMatchObject({ approvalId, digest: DIGEST, personId: 'bob', choice: 'approve_task' });
    await expect(new ApprovalSigner(APPROVAL_KEY).verify(answer.jws!)).resolves.toMatchObject({ approvalId, taskId, digest: DIGEST, personId: 'bob', choice: 'approve_task', at: answer.at });
    await expect(new ApprovalSigner('some-other-key-that-is-long-enough!!').verify(answer.jws!)).rejects.toBeInstanceOf(ApprovalSignatureError);
    const updates = slack.callsOf('chat.update');
    expect(updates.map((u) => u.body.channel).sort()).toEqual(['D0BOB', 'D0ERIN']);
    expect(updates[0].body.text).toContain('Approved for this task by Bob Manager');
    expect(slack.callsOf('chat.postEphemeral')).toEqual([]);
  });

  it('maps a person found by email (no stored Slack id) and carries the deny comment', async () => {
    const { approvalId, value } = await pending();
    await post(click('U0ERIN', 'deny', value, '  not for contractors  '));
    await slack.waitFor('chat.update', (c) => c.body.channel === 'D0BOB');
    await slack.waitFor('chat.update', (c) => c.body.channel === 'D0ERIN');
    expect(slack.callsOf('users.info').map((c) => c.body.user)).toEqual(['U0ERIN']);
    expect(submitted.map((s) => s.answer)).toEqual([expect.objectContaining({ approvalId, personId: 'erin', choice: 'deny', comment: 'not for contractors' })]);
  });

  it("passes on the workflow validator's refusal as an ephemeral message", async () => {
    const { value } = await pending();
    nextResult = { accepted: false, code: 'already_decided', message: 'Already decided by erin (deny) at 2025-01-02T03:04:05.000Z.' };
    await post(click('U0BOB', 'approve_once', value));
    expect((await ephemeralTo('U0BOB')).body.text).toContain('Already decided by erin (deny)');
    expect(submitted).toHaveLength(1);
    expect(slack.callsOf('chat.update')).toEqual([]);
  });
});
