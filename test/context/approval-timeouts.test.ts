// Approver-route steps that run out of time (the bundle copy gives every step 2 seconds, and the
// manager route a second step: the security group, i.e. carol): the chain moves on, then denies.
import { randomUUID } from 'node:crypto';
import { approverRemovedSignal, taskWorkflowId } from '../../workflows/messages';
import { SLACK_IDS, startContextWorld, type ContextWorld } from '../support/context-world';

let world: ContextWorld;
beforeAll(async () => {
  world = await startContextWorld({ stepTimeoutSeconds: 2 });
});
afterAll(async () => {
  await world?.stop();
});

describe('an approval nobody answers', () => {
  it('moves on to the next step when a step times out, and denies with approval_timed_out after the last', async () => {
    const taskId = await world.newTask({ agentId: await world.newAgent() });
    const callId = `call-${randomUUID()}`;
    const held = await world.call(taskId, 'github.delete_branch', { repo: 'acme/api', branch: 'stale' }, { callId });
    expect(held.status).toBe(202);
    const waiting = world.call(taskId, 'github.delete_branch', { repo: 'acme/api', branch: 'stale' }, { callId, waitSeconds: 30 });

    const bobs = await world.card(SLACK_IDS.bob, taskId);
    const carols = await world.card(SLACK_IDS.carol, taskId, { timeoutMs: 10_000 });
    expect(carols.approvalId).toBe(bobs.approvalId);
    expect(carols.text).toContain('Approval needed');
    // Bob's card says the request moved on, and his click no longer counts.
    await world.slack.waitFor('chat.update', (c) => c.body.channel === 'D0BOB' && String(c.body.text).includes('Moved on'));
    const from = world.slack.calls.length;
    await world.click(SLACK_IDS.bob, 'approve_task', bobs.value);
    expect((await world.ephemeral(SLACK_IDS.bob, from)).body.text).toContain('You are not an approver of this step');

    const decided = await waiting;
    expect(decided.status).toBe(200);
    expect(decided.body).toMatchObject({ callId, decision: 'deny', reason: { code: 'approval_timed_out' } });
    expect((await world.result(taskId, callId)).body).toEqual(decided.body);
    await world.slack.waitFor('chat.update', (c) => c.body.channel === 'D0CAROL' && String(c.body.text).includes('Timed out'));
    await world.eventually(async () => (await world.task(taskId)).body.pending.length === 0, 'the hold to close');
    expect((await world.task(taskId)).body.context).toEqual([]);

    await world.stack.request('POST', `/v1/tasks/${taskId}/end`);
    await world.recordHistory('approval-chain-timed-out', taskWorkflowId(taskId));
  });

  it('keeps a held call\'s clock across continue-as-new: the carried step still times out, moves on, then denies', async () => {
    const { taskId, handle } = await world.startTaskWorkflow({ agentId: await world.newAgent(), historyEventsLimit: 30 });
    const callId = `call-${randomUUID()}`;
    const args = { repo: 'acme/api', branch: 'carried' };
    expect((await world.call(taskId, 'github.delete_branch', args, { callId })).status).toBe(202);
    const bobs = await world.card(SLACK_IDS.bob, taskId);
    const waiting = world.call(taskId, 'github.delete_branch', args, { callId, waitSeconds: 30 });
    for (let i = 0; i < 6; i++) await handle.signal(approverRemovedSignal, { personId: 'nobody' });
    const latest = world.stack.client.workflow.getHandle(taskWorkflowId(taskId));
    await world.eventually(async () => (await latest.describe()).runId !== handle.firstExecutionRunId, 'continue-as-new while the call is held', 10_000);
    expect((await world.result(taskId, callId)).body).toMatchObject({ decision: 'pending' });

    const carols = await world.card(SLACK_IDS.carol, taskId, { timeoutMs: 10_000 });
    expect(carols.approvalId).toBe(bobs.approvalId);
    expect((await waiting).body).toMatchObject({ callId, decision: 'deny', reason: { code: 'approval_timed_out' } });
    // Each step's card went out once: the new run did not post the carried step again.
    const cards = world.slack.callsOf('chat.postMessage').filter((c) => c.body.metadata?.event_payload?.taskId === taskId);
    expect(cards.map((c) => c.body.channel).sort()).toEqual([SLACK_IDS.bob, SLACK_IDS.carol]);
    await world.stack.request('POST', `/v1/tasks/${taskId}/end`);
  });
});
