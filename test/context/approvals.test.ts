// A call the policy escalates (github.delete_branch → the delegator's manager, bob) over HTTP and
// Slack: approve, deny, and every click that must not count (self-approval, not an approver, stale
// card, double click); a person offboarded while the call waited; a worker killed during the wait.
import { randomUUID } from 'node:crypto';
import { buttonValue } from '../../src/slack/cards';
import { taskWorkflowId } from '../../workflows/messages';
import { SLACK_IDS, startContextWorld, type ContextWorld } from '../support/context-world';

let world: ContextWorld;
beforeAll(async () => {
  world = await startContextWorld({ stepTimeoutSeconds: 300 });
});
afterAll(async () => {
  await world?.stop();
});

const BRANCH = { repo: 'acme/api', branch: 'old-feature' };

/** A task of alice's (fresh agent) with a delete_branch call held for bob; bob's card is posted. */
async function escalated() {
  const taskId = await world.newTask({ agentId: await world.newAgent() });
  const callId = `call-${randomUUID()}`;
  const held = await world.call(taskId, 'github.delete_branch', BRANCH, { callId });
  expect(held.status).toBe(202);
  expect(held.body).toMatchObject({ callId, decision: 'pending', approvalId: expect.any(String) });
  const card = await world.card(SLACK_IDS.bob, taskId);
  expect(card.approvalId).toBe(held.body.approvalId);
  expect(card.actions).toEqual(['approve_once', 'approve_task', 'deny']);
  return { taskId, callId, card, wait: (seconds = 20) => world.call(taskId, 'github.delete_branch', BRANCH, { callId, waitSeconds: seconds }) };
}

/** answerApproval updates the workflow accepted and completed, from its history. */
async function acceptedAnswers(taskId: string): Promise<number> {
  const history = await world.stack.client.workflow.getHandle(taskWorkflowId(taskId)).fetchHistory();
  // Completed updates carry their id (`answer-…`) even when the accepted event omits the request.
  return history.events!.filter((e) => e.workflowExecutionUpdateCompletedEventAttributes?.meta?.updateId?.startsWith('answer-')).length;
}

const decisionsOf = async (taskId: string, callId: string) => (await world.traces(taskId)).filter((t) => t.kind === 'decision' && t.body.callId === callId);

describe('escalation to an approver', () => {
  it('survives a Slack outage: the card arrives once Slack is back, and the approval still counts', async () => {
    const taskId = await world.newTask({ agentId: await world.newAgent() });
    const callId = `call-${randomUUID()}`;
    const postsBefore = world.slack.callsOf('chat.postMessage').length;
    world.slack.failNext(2, { status: 500 }, 'chat.postMessage'); // down: the activity retries
    const held = await world.call(taskId, 'github.delete_branch', BRANCH, { callId });
    expect(held.status).toBe(202);
    // The double records every attempt: two refused (500), then the one Slack accepted.
    const card = await world.card(SLACK_IDS.bob, taskId, { nth: 2, timeoutMs: 30_000 });
    expect(world.slack.callsOf('chat.postMessage').length - postsBefore).toBe(3);
    const waiting = world.call(taskId, 'github.delete_branch', BRANCH, { callId, waitSeconds: 20 });
    expect(await world.click(SLACK_IDS.bob, 'approve_once', card.value)).toBe(200);
    expect((await waiting).body).toMatchObject({ callId, decision: 'allow' });
  });

  it("lets the call through when the manager approves, with the signed answer in the trace", async () => {
    const { taskId, callId, card, wait } = await escalated();
    expect((await world.task(taskId)).body.pending).toEqual([expect.objectContaining({ callId, toolId: 'github.delete_branch', kind: 'approval' })]);
    const waiting = wait();
    expect(await world.click(SLACK_IDS.bob, 'approve_task', card.value)).toBe(200);
    const decided = await waiting;
    expect(decided.status).toBe(200);
    expect(decided.body).toMatchObject({ callId, decision: 'allow' });
    const trace = await world.stack.services.traces.get(decided.body.traceId);
    expect(trace?.body).toMatchObject({
      decision: 'allow',
      grantedVia: 'approval',
      approvals: [expect.objectContaining({ approvalId: card.approvalId, personId: 'bob', choice: 'approve_task', jws: expect.any(String) })],
    });
    expect((await world.task(taskId)).body.context).toEqual([expect.objectContaining({ toolId: 'github.delete_branch', via: 'approval' })]);
    await world.slack.waitFor('chat.update', (c) => c.body.channel === 'D0BOB' && String(c.body.text).includes('Approved for this task by Bob Manager'));

    await world.stack.request('POST', `/v1/tasks/${taskId}/end`);
    await world.recordHistory('escalation-approved', taskWorkflowId(taskId));
  });

  it('lets one call through on "approve once" without adding the tool to the context', async () => {
    const { taskId, card, wait } = await escalated();
    const waiting = wait();
    await world.click(SLACK_IDS.bob, 'approve_once', card.value);
    expect((await waiting).body.decision).toBe('allow');
    expect((await world.task(taskId)).body.context).toEqual([]);
    await world.stack.request('POST', `/v1/tasks/${taskId}/end`);
  });

  it("denies with access_changed a call approved by the manager after a policy version sent it to the security team", async () => {
    const { taskId, card, wait } = await escalated();
    await world.withRule({ id: 'test-security-deletes', when: 'tool.id eq "github.delete_branch"', then: 'escalate', route: 'security' }, async () => {
      const waiting = wait();
      expect(await world.click(SLACK_IDS.bob, 'approve_task', card.value)).toBe(200);
      // Before: bob's answer counted for the route that no longer asks him.
      expect((await waiting).body).toMatchObject({ decision: 'deny', reason: { code: 'access_changed' } });
    });
    expect((await world.task(taskId)).body.context).toEqual([]);
    await world.recordHistory('approval-route-changed', taskWorkflowId(taskId));
  });

  it('denies with approval_denied and the comment when the manager denies', async () => {
    const { taskId, callId, card, wait } = await escalated();
    const waiting = wait();
    await world.click(SLACK_IDS.bob, 'deny', card.value, 'not on a Friday');
    const decided = await waiting;
    expect(decided.body).toMatchObject({ callId, decision: 'deny', reason: { code: 'approval_denied', message: expect.stringContaining('not on a Friday') } });
    expect((await world.result(taskId, callId)).body).toEqual(decided.body);
    expect((await world.task(taskId)).body.context).toEqual([]);
    await world.stack.request('POST', `/v1/tasks/${taskId}/end`);
    await world.recordHistory('escalation-denied', taskWorkflowId(taskId));
  });

  it('refuses the delegating person approving her own request: an ephemeral refusal and no decision', async () => {
    const { taskId, callId, card } = await escalated();
    const from = world.slack.calls.length;
    expect(await world.click(SLACK_IDS.alice, 'approve_task', card.value)).toBe(200);
    expect((await world.ephemeral(SLACK_IDS.alice, from)).body.text).toContain('You delegated this task: someone else must approve it');
    expect((await world.result(taskId, callId)).body.decision).toBe('pending');
    expect(await acceptedAnswers(taskId)).toBe(0);
    await world.stack.request('POST', `/v1/tasks/${taskId}/end`);
  });

  it('refuses a click by someone who is not an approver of the step', async () => {
    const { taskId, callId, card } = await escalated();
    const from = world.slack.calls.length;
    // carol answers only the route's second step, which has not started.
    await world.click(SLACK_IDS.carol, 'approve_task', card.value);
    expect((await world.ephemeral(SLACK_IDS.carol, from)).body.text).toContain('You are not an approver of this step');
    expect((await world.result(taskId, callId)).body.decision).toBe('pending');
    expect(await acceptedAnswers(taskId)).toBe(0);
    await world.stack.request('POST', `/v1/tasks/${taskId}/end`);
  });

  it('refuses a card whose call digest does not match the held call', async () => {
    const { taskId, callId, card } = await escalated();
    const from = world.slack.calls.length;
    await world.click(SLACK_IDS.bob, 'approve_task', buttonValue({ approvalId: card.approvalId, digest: `sha256:${'0'.repeat(64)}` }));
    expect((await world.ephemeral(SLACK_IDS.bob, from)).body.text).toContain('The call changed since this card was sent');
    expect((await world.result(taskId, callId)).body.decision).toBe('pending');
    expect(await acceptedAnswers(taskId)).toBe(0);
    await world.stack.request('POST', `/v1/tasks/${taskId}/end`);
  });

  it('treats a double click as one answer, and tells a later click who decided', async () => {
    const { taskId, callId, card, wait } = await escalated();
    const waiting = wait();
    const clicks = await Promise.all([world.click(SLACK_IDS.bob, 'approve_task', card.value), world.click(SLACK_IDS.bob, 'approve_task', card.value)]);
    expect(clicks).toEqual([200, 200]);
    expect((await waiting).body.decision).toBe('allow');
    // Local activities let the decision out before the workflow task holding the answer completes.
    await world.eventually(async () => (await acceptedAnswers(taskId)) === 1, 'the answer in the history');
    expect(await acceptedAnswers(taskId)).toBe(1);
    const decisions = await decisionsOf(taskId, callId);
    expect(decisions).toHaveLength(1);
    expect(decisions[0].body.approvals).toHaveLength(1);

    const from = world.slack.calls.length;
    await world.click(SLACK_IDS.bob, 'deny', card.value);
    expect((await world.ephemeral(SLACK_IDS.bob, from)).body.text).toMatch(/Already decided by (Bob Manager|bob)/);
    expect(await decisionsOf(taskId, callId)).toHaveLength(1);
    await world.stack.request('POST', `/v1/tasks/${taskId}/end`);
  });
});

describe('resuming a held call', () => {
  it('denies an approved call when the person was offboarded while it waited', async () => {
    const { taskId, callId, card, wait } = await escalated();
    await world.stack.database.db.query('update users set active = false where id = $1', ['alice']);
    try {
      const waiting = wait();
      await world.click(SLACK_IDS.bob, 'approve_task', card.value);
      const decided = await waiting;
      expect(decided.body).toMatchObject({ callId, decision: 'deny', reason: { code: 'user_inactive' } });
      expect((await world.task(taskId)).body.context).toEqual([]);
    } finally {
      await world.stack.database.db.query('update users set active = true where id = $1', ['alice']);
    }
    await world.stack.request('POST', `/v1/tasks/${taskId}/end`);
  });

  it('survives the worker dying during the wait: the approval is answered once the worker is back', async () => {
    const { taskId, callId, card, wait } = await escalated();
    await world.stack.stopWorker();
    let restarted = false;
    try {
      const waiting = wait(60);
      // Bolt acknowledges the click at once; the answer waits in Temporal until a worker runs.
      expect(await world.click(SLACK_IDS.bob, 'approve_task', card.value)).toBe(200);
      expect((await world.result(taskId, callId)).body.decision).toBe('pending');
      await world.stack.startWorker();
      restarted = true;
      const decided = await waiting;
      expect(decided.body).toMatchObject({ callId, decision: 'allow' });
    } finally {
      if (!restarted) await world.stack.startWorker();
    }
    expect(await decisionsOf(taskId, callId)).toHaveLength(1);
    expect(await world.stack.services.tasks.grants(taskId)).toEqual([expect.objectContaining({ toolId: 'github.delete_branch', via: 'approval' })]);
    await world.stack.request('POST', `/v1/tasks/${taskId}/end`);
    await world.recordHistory('approval-across-worker-restart', taskWorkflowId(taskId));
  });
});
