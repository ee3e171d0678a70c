// The notify activities against a loopback Slack double and a real database.
import { ApplicationFailure } from '@temporalio/common';
import { createNotifyActivities } from '../../activities/notify';
import { slackWebClient } from '../../src/slack/slack-web-client';
import { startSlackDouble, type SlackDouble } from '../support/slack-double';
import { policy } from './fixtures';
import { openWorld, type World } from './world';

let world: World;
let slack: SlackDouble;
let acts: ReturnType<typeof createNotifyActivities>;

beforeAll(async () => {
  world = await openWorld();
  slack = await startSlackDouble({ users: [{ id: 'U0ERIN', email: 'erin@example.com' }] });
  acts = fresh();
});
/** Activities with their own caches (Slack ids found by email). */
const fresh = () => createNotifyActivities({ ...world, db: world.database.db, policy, slack: slackWebClient({ botToken: 'xoxb-test', apiUrl: slack.url }) });
afterAll(async () => {
  await slack?.stop();
  await world?.database.drop();
});
beforeEach(() => slack.reset());

const deadline = (minutes: number) => new Date(Date.now() + minutes * 60_000).toISOString();
const blocksOf = (c: { body: Record<string, any> }) => JSON.stringify(c.body.blocks);

describe('nextApprovers', () => {
  it("starts with the delegating person's manager, then the security group's active members", async () => {
    const taskId = await world.task('alice');
    await expect(acts.nextApprovers({ taskId, appId: 'crm', route: 'manager-then-security', fromStep: 0 })).resolves.toEqual({ step: 0, approverIds: ['bob'], timeoutSeconds: 900 });
    await expect(acts.nextApprovers({ taskId, appId: 'crm', route: 'manager-then-security', fromStep: 1 })).resolves.toEqual({ step: 1, approverIds: ['carol', 'erin'], timeoutSeconds: 3600 });
    await expect(acts.nextApprovers({ taskId, appId: 'crm', route: 'manager-then-security', fromStep: 2 })).resolves.toBeUndefined();
  });

  it('never routes to the delegating person: the app owner asking leaves nobody', async () => {
    const taskId = await world.task('carol');
    await expect(acts.nextApprovers({ taskId, appId: 'crm', route: 'app-owner', fromStep: 0 })).resolves.toBeUndefined();
    // Carol's own security group answers without her.
    await expect(acts.nextApprovers({ taskId, appId: 'crm', route: 'manager-then-security', fromStep: 0 })).resolves.toMatchObject({ step: 0, approverIds: ['bob'] });
    await expect(acts.nextApprovers({ taskId, appId: 'crm', route: 'manager-then-security', fromStep: 1 })).resolves.toMatchObject({ step: 1, approverIds: ['erin'] });
  });
});

describe('askApprovers', () => {
  it('DMs each approver a card and records where it went, the step and the deadline', async () => {
    const taskId = await world.task();
    const { approvalId, call, plan } = await world.hold(taskId);
    const until = deadline(60);
    await acts.askApprovers({ taskId, approvalId, call, plan, step: 1, approverIds: ['carol', 'erin'], deadline: until });

    const posts = slack.callsOf('chat.postMessage');
    expect(posts.map((p) => p.body.channel)).toEqual(['U0CAROL', 'U0ERIN']);
    expect(slack.callsOf('users.lookupByEmail').map((c) => c.body.email)).toEqual(['erin@example.com']);
    expect(blocksOf(posts[0])).toContain('Alice Example (Senior Engineer, Engineering)');
    expect(blocksOf(posts[0])).not.toContain('sk_live_SECRET123');
    expect(posts[0].body.metadata).toEqual({ event_type: 'approval_requested', event_payload: { approvalId, taskId } });

    const row = await world.approvals.get(approvalId);
    expect(row).toMatchObject({ step: 1, approverIds: ['carol', 'erin'], deadline: until, status: 'pending' });
    expect(row!.messages).toEqual([
      { channel: 'D0CAROL', ts: expect.any(String), approverId: 'carol' },
      { channel: 'D0ERIN', ts: expect.any(String), approverId: 'erin' },
    ]);
  });

  it('is idempotent: a retry posts no second card, and a failure midway resumes where it stopped', async () => {
    const taskId = await world.task();
    const { approvalId, call, plan } = await world.hold(taskId);
    const ask = { taskId, approvalId, call, plan, step: 1, approverIds: ['carol', 'erin'], deadline: deadline(60) };
    const acts = fresh();
    // Carol's card goes out, then Slack fails while looking Erin up (5xx: a plain, retryable error).
    slack.failNext(1, { status: 500 }, 'users.lookupByEmail');
    const failed = await acts.askApprovers(ask).catch((e: unknown) => e);
    expect(failed).toBeInstanceOf(Error);
    expect(failed).not.toBeInstanceOf(ApplicationFailure);
    expect(slack.callsOf('chat.postMessage').map((p) => p.body.channel)).toEqual(['U0CAROL']);

    await acts.askApprovers(ask);
    await acts.askApprovers(ask);
    expect(slack.callsOf('chat.postMessage').map((p) => p.body.channel)).toEqual(['U0CAROL', 'U0ERIN']);
    expect(slack.callsOf('chat.update')).toEqual([]);
    expect((await world.approvals.get(approvalId))!.messages.map((m) => m.approverId)).toEqual(['carol', 'erin']);
  });

  it("turns Slack's 429 into a retryable ApplicationFailure due exactly after Retry-After", async () => {
    const taskId = await world.task();
    const { approvalId, call, plan } = await world.hold(taskId);
    slack.failNext(1, { status: 429, retryAfter: 7 }, 'chat.postMessage');
    const err = await acts.askApprovers({ taskId, approvalId, call, plan, step: 0, approverIds: ['bob'], deadline: deadline(15) }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApplicationFailure);
    expect(err).toMatchObject({ type: 'SlackRateLimited', nonRetryable: false, nextRetryDelay: 7000 });
    expect((await world.approvals.get(approvalId))!.messages).toEqual([]);
  });

  it('moves on: the next step posts to its approvers and tells the earlier ones their card is closed', async () => {
    const taskId = await world.task();
    const { approvalId, call, plan } = await world.hold(taskId);
    await acts.askApprovers({ taskId, approvalId, call, plan, step: 0, approverIds: ['bob'], deadline: deadline(15) });
    const bobCard = slack.callsOf('chat.postMessage')[0];
    await acts.askApprovers({ taskId, approvalId, call, plan, step: 1, approverIds: ['carol'], deadline: deadline(60) });
    const [update] = slack.callsOf('chat.update');
    expect(update.body).toMatchObject({ channel: 'D0BOB' });
    expect(blocksOf(update)).toContain('Moved on to the next approver');
    expect(bobCard.body.channel).toBe('U0BOB');
    expect(slack.callsOf('chat.postMessage').map((p) => p.body.channel)).toEqual(['U0BOB', 'U0CAROL']);
  });
});

describe('askConfirmation and updateCards', () => {
  it('asks the delegating person once, with Confirm / Decline', async () => {
    const taskId = await world.task();
    const { approvalId, call, plan } = await world.hold(taskId, 'confirmation');
    await acts.askConfirmation({ taskId, approvalId, call, plan });
    await acts.askConfirmation({ taskId, approvalId, call, plan });
    const posts = slack.callsOf('chat.postMessage');
    expect(posts).toHaveLength(1);
    expect(posts[0].body.channel).toBe('U0ALICE');
    expect(blocksOf(posts[0])).toContain('"action_id":"confirm"');
    expect(await world.approvals.get(approvalId)).toMatchObject({ approverIds: ['alice'], messages: [expect.objectContaining({ approverId: 'alice' })] });
  });

  it('updates every card of the approval in place with who decided what and when', async () => {
    const taskId = await world.task();
    const { approvalId, call, plan } = await world.hold(taskId);
    await acts.askApprovers({ taskId, approvalId, call, plan, step: 1, approverIds: ['carol', 'erin'], deadline: deadline(60) });
    const posted = slack.callsOf('chat.postMessage').map((p) => p.body.channel);
    expect(posted).toHaveLength(2);
    const at = new Date().toISOString();
    await acts.updateCards({ approvalId, outcome: 'deny', by: 'carol', at, comment: 'not this quarter' });
    const updates = slack.callsOf('chat.update');
    const row = await world.approvals.get(approvalId);
    expect(updates.map((u) => [u.body.channel, u.body.ts])).toEqual(row!.messages.map((m) => [m.channel, m.ts]));
    expect(updates[0].body.text).toContain('Denied by Carol Security');
    expect(blocksOf(updates[1])).toContain('not this quarter');
    expect(JSON.stringify(updates[0].body.blocks)).not.toContain('approve_once');
  });
});

describe('without Slack', () => {
  it('records the approval row, posts nothing and does not fail', async () => {
    const quiet = createNotifyActivities({ ...world, db: world.database.db, policy });
    const taskId = await world.task();
    const { approvalId, call, plan } = await world.hold(taskId);
    const until = deadline(15);
    await quiet.askApprovers({ taskId, approvalId, call, plan, step: 0, approverIds: ['bob'], deadline: until });
    await quiet.updateCards({ approvalId, outcome: 'timed_out', at: until });
    expect(await world.approvals.get(approvalId)).toMatchObject({ step: 0, approverIds: ['bob'], deadline: until, messages: [] });
    const confirmation = await world.hold(taskId, 'confirmation');
    await quiet.askConfirmation({ taskId, ...confirmation });
    expect(await world.approvals.get(confirmation.approvalId)).toMatchObject({ approverIds: ['alice'] });
    expect(slack.calls).toEqual([]);
  });
});
