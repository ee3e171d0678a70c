// Dynamic Agent Context over HTTP: a tool on an app with nothing to provision needs only the policy,
// a tool the agent already holds needs only the policy, and a tool the person holds but the agent
// does not needs the person's confirmation in Slack.
import { randomUUID } from 'node:crypto';
import { toolCallUpdateId } from '../../src/tasks/tasks.service';
import { taskWorkflowId } from '../../workflows/messages';
import { SLACK_IDS, startContextWorld, type ContextWorld } from '../support/context-world';

let world: ContextWorld;
beforeAll(async () => {
  world = await startContextWorld();
});
afterAll(async () => {
  await world?.stop();
});

const PR = { repo: 'acme/api', title: 'Fix the build', head: 'fix-build' };
const PAGE = { pageId: 'p-1' };

describe('policy-only path', () => {
  it('allows a tool on an app with nothing to provision via the policy, then decides the next call from the projection', async () => {
    const taskId = await world.newTask({ agentId: await world.newAgent() });
    const callId = `call-${randomUUID()}`;
    const first = await world.call(taskId, 'github.create_pr', PR, { callId });
    expect(first.status).toBe(200);
    expect(first.body).toMatchObject({ decision: 'allow', policyVersion: expect.stringMatching(/^sha256:/) });
    expect((await world.task(taskId)).body.context).toEqual([expect.objectContaining({ toolId: 'github.create_pr', appId: 'github', via: 'policy' })]);

    // Answered at the decision's commit; the update completes with the workflow task after it.
    const handle = world.stack.client.workflow.getHandle(taskWorkflowId(taskId));
    await handle.getUpdateHandle(toolCallUpdateId(callId)).result();
    const history = await handle.fetchHistory();
    // Planned and recorded by one local activity: a single round trip between worker and workflow.
    expect(history.events!.filter((e) => e.markerRecordedEventAttributes?.markerName === 'core_local_activity')).toHaveLength(1);
    const updatesBefore = history.events!.length;
    const second = await world.call(taskId, 'github.create_pr', { ...PR, title: 'Second one' });
    expect(second.body).toMatchObject({ decision: 'allow' });
    // Decided in the API from the projection: the workflow's history did not grow.
    expect((await world.stack.client.workflow.getHandle(taskWorkflowId(taskId)).fetchHistory()).events!.length).toBe(updatesBefore);
    expect(world.slack.callsOf('chat.postMessage').filter((c) => c.body.metadata?.event_payload?.taskId === taskId)).toEqual([]);

    await world.stack.request('POST', `/v1/tasks/${taskId}/end`);
    await world.recordHistory('policy-only', taskWorkflowId(taskId));
  });
});

describe('person holds the tool, the agent does not', () => {
  it('holds the call (202), DMs the person a Confirm/Decline card, and a signed Confirm lets the waiting gateway through', async () => {
    const taskId = await world.newTask({ agentId: await world.newAgent() });
    const callId = `call-${randomUUID()}`;
    const held = await world.call(taskId, 'wiki.read_page', PAGE, { callId });
    expect(held.status).toBe(202);
    expect(held.body).toMatchObject({ callId, decision: 'pending', approvalId: expect.any(String) });

    const card = await world.card(SLACK_IDS.alice, taskId);
    expect(card.approvalId).toBe(held.body.approvalId);
    expect(card.actions).toEqual(['confirm', 'decline']);
    expect((await world.task(taskId)).body.pending).toEqual([expect.objectContaining({ callId, toolId: 'wiki.read_page', kind: 'confirmation' })]);

    const waiting = world.call(taskId, 'wiki.read_page', PAGE, { callId, waitSeconds: 20 });
    expect(await world.click(SLACK_IDS.alice, 'confirm', card.value)).toBe(200);
    const decided = await waiting;
    expect(decided.status).toBe(200);
    expect(decided.body).toMatchObject({ callId, decision: 'allow' });

    const view = (await world.task(taskId)).body;
    expect(view.context).toEqual([expect.objectContaining({ toolId: 'wiki.read_page', appId: 'wiki', via: 'user-confirmation' })]);
    // The hold is closed right after the decision is recorded.
    await world.eventually(async () => (await world.task(taskId)).body.pending.length === 0, 'the hold to close');
    const trace = await world.stack.services.traces.get(decided.body.traceId);
    expect(trace?.body).toMatchObject({ decision: 'allow', grantedVia: 'user-confirmation', approvals: [expect.objectContaining({ personId: 'alice', choice: 'confirm' })] });
    // The card now says who confirmed.
    await world.slack.waitFor('chat.update', (c) => c.body.channel === 'D0ALICE' && String(c.body.text).includes('Confirmed'));
    // Nothing was provisioned: alice already holds wiki-reader.
    expect(world.scim.requests).toEqual([]);

    await world.stack.request('POST', `/v1/tasks/${taskId}/end`);
    await world.recordHistory('person-confirms', taskWorkflowId(taskId));
  });

  it('denies with person_declined when the person declines', async () => {
    const taskId = await world.newTask({ agentId: await world.newAgent() });
    const held = await world.call(taskId, 'wiki.read_page', PAGE);
    expect(held.status).toBe(202);
    const card = await world.card(SLACK_IDS.alice, taskId);
    const waiting = world.call(taskId, 'wiki.read_page', PAGE, { callId: held.body.callId, waitSeconds: 20 });
    await world.click(SLACK_IDS.alice, 'decline', card.value);
    expect((await waiting).body).toMatchObject({ decision: 'deny', reason: { code: 'person_declined' } });
    expect((await world.task(taskId)).body.context).toEqual([]);
    await world.eventually(async () => (await world.task(taskId)).body.pending.length === 0, 'the hold to close');
  });

  it('denies with access_changed a confirmed call the policy came to escalate while it waited: a confirmation is not an approval', async () => {
    const taskId = await world.newTask({ agentId: await world.newAgent() });
    const held = await world.call(taskId, 'wiki.read_page', PAGE);
    expect(held.status).toBe(202);
    const card = await world.card(SLACK_IDS.alice, taskId);
    await world.withRule({ id: 'test-escalate-reads', when: 'tool.id eq "wiki.read_page"', then: 'escalate', route: 'app-owner' }, async () => {
      const waiting = world.call(taskId, 'wiki.read_page', PAGE, { callId: held.body.callId, waitSeconds: 20 });
      expect(await world.click(SLACK_IDS.alice, 'confirm', card.value)).toBe(200);
      // Before: the re-check's escalation was taken as approved, and the read allowed on alice's confirmation alone.
      expect((await waiting).body).toMatchObject({ decision: 'deny', reason: { code: 'access_changed' } });
    });
    expect((await world.task(taskId)).body.context).toEqual([]);
    await world.recordHistory('confirmed-then-escalated', taskWorkflowId(taskId));
  });

  it('denies with confirmation_timed_out when the person does not answer in time', async () => {
    const { taskId } = await world.startTaskWorkflow({ agentId: await world.newAgent(), confirmationTimeoutSeconds: 1 });
    const held = await world.call(taskId, 'wiki.read_page', PAGE);
    expect(held.status).toBe(202);
    const decided = await world.call(taskId, 'wiki.read_page', PAGE, { callId: held.body.callId, waitSeconds: 20 });
    expect(decided.body).toMatchObject({ decision: 'deny', reason: { code: 'confirmation_timed_out' } });
    expect((await world.result(taskId, held.body.callId)).body).toEqual(decided.body);
    expect((await world.task(taskId)).body.context).toEqual([]);
    await world.eventually(async () => (await world.task(taskId)).body.pending.length === 0, 'the hold to close');
    await world.slack.waitFor('chat.update', (c) => c.body.channel === 'D0ALICE' && String(c.body.text).includes('Timed out'));
  });

  it("refuses a confirmation click by anyone but the delegating person", async () => {
    const taskId = await world.newTask({ agentId: await world.newAgent() });
    const held = await world.call(taskId, 'wiki.read_page', PAGE);
    const card = await world.card(SLACK_IDS.alice, taskId);
    const from = world.slack.calls.length;
    await world.click(SLACK_IDS.bob, 'confirm', card.value);
    expect((await world.ephemeral(SLACK_IDS.bob, from)).body.text).toContain('Only the person who delegated the task can confirm');
    expect((await world.result(taskId, held.body.callId)).body.decision).toBe('pending');
    await world.stack.request('POST', `/v1/tasks/${taskId}/end`);
  });
});

describe('the agent already holds the tool', () => {
  it('needs only the policy check when a live grant of this agent for this person exists in another active task', async () => {
    const agentId = await world.newAgent();
    const first = await world.newTask({ agentId });
    const held = await world.call(first, 'wiki.read_page', PAGE);
    const card = await world.card(SLACK_IDS.alice, first);
    const waiting = world.call(first, 'wiki.read_page', PAGE, { callId: held.body.callId, waitSeconds: 20 });
    await world.click(SLACK_IDS.alice, 'confirm', card.value);
    expect((await waiting).body.decision).toBe('allow');

    const second = await world.newTask({ agentId });
    const cardsBefore = world.slack.callsOf('chat.postMessage').length;
    const res = await world.call(second, 'wiki.read_page', PAGE);
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ decision: 'allow' });
    expect((await world.task(second)).body.context).toEqual([expect.objectContaining({ toolId: 'wiki.read_page', via: 'policy' })]);
    expect(world.slack.callsOf('chat.postMessage')).toHaveLength(cardsBefore);

    // Another agent of the same person holds nothing yet: it has to ask.
    const other = await world.newTask({ agentId: await world.newAgent() });
    expect((await world.call(other, 'wiki.read_page', PAGE)).status).toBe(202);

    // Once the first task ended, its grant no longer counts.
    await world.stack.request('POST', `/v1/tasks/${first}/end`);
    await world.stack.request('POST', `/v1/tasks/${second}/end`);
    const third = await world.newTask({ agentId });
    expect((await world.call(third, 'wiki.read_page', PAGE)).status).toBe(202);
    for (const t of [other, third]) await world.stack.request('POST', `/v1/tasks/${t}/end`);
  });

  it('does not extend a held app grant to another entitlement of that app the person lacks', async () => {
    const agentId = await world.newAgent();
    const first = await world.newTask({ agentId });
    const held = await world.call(first, 'wiki.read_page', PAGE);
    const card = await world.card(SLACK_IDS.alice, first);
    const waiting = world.call(first, 'wiki.read_page', PAGE, { callId: held.body.callId, waitSeconds: 20 });
    await world.click(SLACK_IDS.alice, 'confirm', card.value);
    expect((await waiting).body.decision).toBe('allow');

    // wiki.edit_page needs wiki-editor, which alice does not hold: approval chain, not a policy-only grant.
    const second = await world.newTask({ agentId });
    const edit = await world.call(second, 'wiki.edit_page', { pageId: 'p-1', content: 'hello' });
    expect(edit.status).toBe(202);
    const trace = await world.stack.services.traces.get(edit.body.traceId);
    expect(trace?.body).toMatchObject({ holdKind: 'approval', reach: 'person-lacks' });
    for (const t of [first, second]) await world.stack.request('POST', `/v1/tasks/${t}/end`);
  });
});
