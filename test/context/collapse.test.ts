// The context collapsing to zero — by end, TTL, revokeAll (offboarding) and the admin kill switch:
// the status the API reports, held calls denied, a receipt per grant, credential references dead,
// and the very next call denied. Plus continue-as-new with held calls, and no secret in history.
import { randomUUID } from 'node:crypto';
import { credentialKey } from '../../activities/provisioning/credential-connector';
import { approverRemovedSignal, revokeAllSignal, requestToolCallUpdate, taskViewQuery, taskWorkflowId } from '../../workflows/messages';
import { SLACK_IDS, startContextWorld, type ContextWorld } from '../support/context-world';
import { TOKENS } from '../support/stack';

let world: ContextWorld;
beforeAll(async () => {
  world = await startContextWorld({ stepTimeoutSeconds: 300 });
});
afterAll(async () => {
  await world?.stop();
});

const PR = { repo: 'acme/api', title: 'Fix the build', head: 'fix-build' };
const BRANCH = { repo: 'acme/api', branch: 'old-feature' };
const PAGE = { pageId: 'p-1' };

/** github.create_pr in context and a delete_branch call held for bob, with a gateway waiting on it. */
async function busyTask(taskId: string) {
  expect((await world.call(taskId, 'github.create_pr', PR)).body.decision).toBe('allow');
  const callId = `call-${randomUUID()}`;
  const held = await world.call(taskId, 'github.delete_branch', BRANCH, { callId });
  expect(held.status).toBe(202);
  const card = await world.card(SLACK_IDS.bob, taskId);
  const waiting = world.call(taskId, 'github.delete_branch', BRANCH, { callId, waitSeconds: 30 });
  return { callId, card, waiting };
}

/** What every collapse must leave behind, whatever ended the task. */
async function expectCollapsed(taskId: string, status: string, receipt: Record<string, unknown>) {
  const view = (await world.task(taskId)).body;
  expect(view).toMatchObject({ status, context: [], pending: [] });
  expect(view.revoked).toEqual([expect.objectContaining({ toolId: 'github.create_pr', status: 'revoked' })]);
  const receipts = (await world.traces(taskId)).filter((t) => t.kind === 'revocation' && t.body.revocation === 'context_removed');
  expect(receipts.map((r) => r.body)).toEqual([expect.objectContaining({ toolId: 'github.create_pr', grantedVia: 'policy', ...receipt })]);
  // Revocation is honoured by the very next call on a tool that was in context.
  expect((await world.call(taskId, 'github.create_pr', PR)).body).toMatchObject({ decision: 'deny', reason: { code: 'task_not_active' } });
}

describe('collapse', () => {
  it('on end: answers once the context collapsed, denies the held call, and the next call', async () => {
    const taskId = await world.newTask({ agentId: await world.newAgent() });
    const { callId, card, waiting } = await busyTask(taskId);
    const ended = await world.stack.request('POST', `/v1/tasks/${taskId}/end`);
    expect(ended.status).toBe(200);
    expect(ended.body).toEqual({ taskId, status: 'ended', revoked: ['github.create_pr'] });
    expect((await world.call(taskId, 'github.create_pr', PR)).body).toMatchObject({ decision: 'deny', reason: { code: 'task_not_active' } });
    expect((await waiting).body).toMatchObject({ callId, decision: 'deny', reason: { code: 'task_not_active' } });
    await expectCollapsed(taskId, 'ended', { endedBy: 'gateway', endedBecause: 'ended_by_gateway' });
    await world.slack.waitFor('chat.update', (c) => c.body.channel === 'D0BOB' && String(c.body.text).includes('Cancelled'));
    const from = world.slack.calls.length;
    await world.click(SLACK_IDS.bob, 'approve_task', card.value);
    expect((await world.ephemeral(SLACK_IDS.bob, from)).body.text).toMatch(/no longer pending|closed/);
  });

  it('on TTL: the task expires by itself, with its held call denied', async () => {
    const taskId = await world.newTask({ agentId: await world.newAgent(), ttlSeconds: 3 });
    const { callId, waiting } = await busyTask(taskId);
    expect((await waiting).body).toMatchObject({ callId, decision: 'deny', reason: { code: 'task_not_active' } });
    await world.eventually(async () => (await world.task(taskId)).body.status === 'expired', 'the task to expire');
    await world.eventually(async () => (await world.task(taskId)).body.revoked[0]?.status === 'revoked', 'the receipts');
    await expectCollapsed(taskId, 'expired', { endedBy: 'system', endedBecause: 'ttl' });
    await world.recordHistory('ttl-expired', taskWorkflowId(taskId));
  });

  it('on the revokeAll signal (offboarding): the task is revoked', async () => {
    const taskId = await world.newTask({ agentId: await world.newAgent() });
    const { callId, waiting } = await busyTask(taskId);
    await world.stack.client.workflow.getHandle(taskWorkflowId(taskId)).signal(revokeAllSignal, { status: 'revoked', reason: 'person_offboarded', by: 'hr' });
    expect((await waiting).body).toMatchObject({ callId, decision: 'deny', reason: { code: 'task_not_active' } });
    await world.eventually(async () => (await world.task(taskId)).body.revoked[0]?.status === 'revoked', 'the collapse');
    await expectCollapsed(taskId, 'revoked', { endedBy: 'hr', endedBecause: 'person_offboarded' });
    await world.recordHistory('revoke-all-signal', taskWorkflowId(taskId));
  });

  it('on the admin kill switch: admin only, with a reason, and the next call is denied at once', async () => {
    const taskId = await world.newTask({ agentId: await world.newAgent() });
    const { callId, waiting } = await busyTask(taskId);
    expect((await world.stack.request('POST', `/v1/tasks/${taskId}/revoke`, { body: { reason: 'leaked token' } })).status).toBe(403);
    expect((await world.stack.request('POST', `/v1/tasks/${taskId}/revoke`, { token: TOKENS.admin, body: {} })).status).toBe(400);
    const revoked = await world.stack.request('POST', `/v1/tasks/${taskId}/revoke`, { token: TOKENS.admin, body: { reason: 'suspected prompt injection' } });
    expect(revoked.status).toBe(200);
    expect(revoked.body).toEqual({ taskId, status: 'revoked', revoked: ['github.create_pr'] });
    expect((await world.call(taskId, 'github.create_pr', PR)).body).toMatchObject({ decision: 'deny', reason: { code: 'task_not_active' } });
    expect((await waiting).body).toMatchObject({ callId, decision: 'deny', reason: { code: 'task_not_active' } });
    await expectCollapsed(taskId, 'revoked', { endedBy: 'admin', endedBecause: 'suspected prompt injection' });
    // A second end does not change how the task ended.
    expect((await world.stack.request('POST', `/v1/tasks/${taskId}/end`)).body).toMatchObject({ status: 'revoked' });
    await world.recordHistory('kill-switch', taskWorkflowId(taskId));
  });
});

describe('collapse racing a call', () => {
  it('denies a call that was being decided when the task ended, instead of leaving it pending', async () => {
    const { taskId } = await world.startTaskWorkflow({ agentId: await world.newAgent() });
    const callId = `call-${randomUUID()}`;
    await world.stack.stopWorker();
    let restarted = false;
    try {
      // Both reach the workflow in its next task: the call starts being decided, then the end arrives.
      const held = world.call(taskId, 'github.delete_branch', BRANCH, { callId });
      await new Promise((r) => setTimeout(r, 300));
      const ending = world.stack.request('POST', `/v1/tasks/${taskId}/end`);
      await new Promise((r) => setTimeout(r, 300));
      await world.stack.startWorker();
      restarted = true;
      expect((await ending).body).toMatchObject({ taskId, status: 'ended' });
      expect([200, 202]).toContain((await held).status);
    } finally {
      if (!restarted) await world.stack.startWorker();
    }
    expect((await world.result(taskId, callId)).body).toMatchObject({ callId, decision: 'deny', reason: { code: 'task_not_active' } });
    expect((await world.task(taskId)).body.pending).toEqual([]);
  });
});

describe('credentials', () => {
  it('hands out a task-bound reference to a minted credential that resolves while the task runs and is dead after', async () => {
    // dave (support) may refund; he holds no payments access, so carol approves and a key is minted for the task.
    const taskId = await world.newTask({ userId: 'dave', agentId: await world.newAgent('dave') });
    const callId = `call-${randomUUID()}`;
    const refund = { amount: 250, orderId: 'o-7' };
    expect((await world.call(taskId, 'payments.refund', refund, { callId })).status).toBe(202);
    const card = await world.card(SLACK_IDS.carol, taskId);
    const waiting = world.call(taskId, 'payments.refund', refund, { callId, waitSeconds: 30 });
    await world.click(SLACK_IDS.carol, 'approve_task', card.value);
    const allowed = (await waiting).body;
    expect(allowed).toMatchObject({ callId, decision: 'allow', credentialRef: expect.stringMatching(/^cr_/) });
    expect((await world.task(taskId)).body.context).toEqual([expect.objectContaining({ toolId: 'payments.refund', via: 'provisioning' })]);

    const resolve = (body: Record<string, unknown>) => world.stack.request('POST', '/v1/credentials/resolve', { body });
    const live = await resolve({ credentialRef: allowed.credentialRef, toolId: 'payments.refund' });
    expect(live.status).toBe(200);
    expect(live.body).toMatchObject({ credential: { type: 'bearer', token: expect.any(String), taskId, appId: 'payments' }, expiresAt: expect.any(String) });
    const token = live.body.credential.token as string;
    expect((await resolve({ credentialRef: allowed.credentialRef, toolId: 'github.create_pr' })).status).toBe(404);
    // The next call is decided from the projection and carries the same reference.
    expect((await world.call(taskId, 'payments.refund', { amount: 10, orderId: 'o-8' })).body).toMatchObject({ decision: 'allow', credentialRef: allowed.credentialRef });

    const ended = await world.stack.request('POST', `/v1/tasks/${taskId}/end`);
    expect(ended.body).toEqual({ taskId, status: 'ended', revoked: ['payments.refund'] });
    const dead = await resolve({ credentialRef: allowed.credentialRef });
    expect(dead.status).toBe(410);
    expect(JSON.stringify(dead.body)).not.toContain(token);
    expect(await world.stack.services.secrets.get(credentialKey(taskId, 'payments', 'payments-api'))).toBeUndefined();
    const deprovisioned = (await world.traces(taskId)).find((t) => t.body.revocation === 'deprovisioned');
    expect((deprovisioned?.body.provisioning as { kind: string }[]).map((c) => c.kind)).toContain('credential_destroyed');

    // Neither the minted secret nor the reference to it is in the workflow's history.
    const history = await world.historyText(taskId);
    expect(history).toContain('credential_minted');
    expect(history).not.toContain(token);
    expect(history).not.toContain(allowed.credentialRef);
    expect((await world.stack.request('GET', '/v1/traces/verify', { token: TOKENS.admin })).body).toMatchObject({ ok: true });
    await world.recordHistory('credential-minted', taskWorkflowId(taskId));
  });
});

describe('continue-as-new', () => {
  it('carries the context, earlier decisions and held calls into the new run, where their cards still decide them', async () => {
    const { taskId, handle } = await world.startTaskWorkflow({ agentId: await world.newAgent(), historyEventsLimit: 30 });
    const prCall = `call-${randomUUID()}`;
    const pr = await world.call(taskId, 'github.create_pr', PR, { callId: prCall });
    expect(pr.body.decision).toBe('allow');
    // Two calls wait for a human: an approval (bob) and the person's confirmation (alice).
    const approvalCall = `call-${randomUUID()}`;
    expect((await world.call(taskId, 'github.delete_branch', BRANCH, { callId: approvalCall })).status).toBe(202);
    const approvalCard = await world.card(SLACK_IDS.bob, taskId);
    const confirmationCall = `call-${randomUUID()}`;
    expect((await world.call(taskId, 'wiki.read_page', PAGE, { callId: confirmationCall })).status).toBe(202);
    const confirmationCard = await world.card(SLACK_IDS.alice, taskId);
    // Signals grow its history past the limit while both are held.
    for (let i = 0; i < 6; i++) await handle.signal(approverRemovedSignal, { personId: 'nobody' });
    const latest = world.stack.client.workflow.getHandle(taskWorkflowId(taskId));
    await world.eventually(async () => (await latest.describe()).runId !== handle.firstExecutionRunId, 'continue-as-new while calls are held');

    // The new run holds the same calls under the same approval ids; no card was sent again.
    const carried = await latest.query(taskViewQuery);
    expect(carried.pending.map((p) => [p.callId, p.approvalId, p.kind]).sort()).toEqual(
      [
        [approvalCall, approvalCard.approvalId, 'approval'],
        [confirmationCall, confirmationCard.approvalId, 'confirmation'],
      ].sort(),
    );
    expect(carried.context.map((c) => c.toolId)).toEqual(['github.create_pr']);
    const cardsPosted = world.slack.callsOf('chat.postMessage').filter((c) => c.body.metadata?.event_payload?.taskId === taskId).length;
    expect(cardsPosted).toBe(2);

    const confirmed = world.call(taskId, 'wiki.read_page', PAGE, { callId: confirmationCall, waitSeconds: 30 });
    expect(await world.click(SLACK_IDS.alice, 'confirm', confirmationCard.value)).toBe(200);
    expect((await confirmed).body).toMatchObject({ callId: confirmationCall, decision: 'allow' });
    const approved = world.call(taskId, 'github.delete_branch', BRANCH, { callId: approvalCall, waitSeconds: 30 });
    expect(await world.click(SLACK_IDS.bob, 'approve_task', approvalCard.value)).toBe(200);
    expect((await approved).body).toMatchObject({ callId: approvalCall, decision: 'allow' });
    // The approval's trace names who approved, as in a run that never continued.
    const decision = (await world.traces(taskId)).find((t) => t.kind === 'decision' && t.body.callId === approvalCall);
    expect(decision?.body).toMatchObject({ decision: 'allow', approvals: [expect.objectContaining({ personId: 'bob', choice: 'approve_task' })] });

    const view = await latest.query(taskViewQuery);
    expect(view.context.map((c) => c.toolId).sort()).toEqual(['github.create_pr', 'github.delete_branch', 'wiki.read_page']);
    expect(view.pending).toEqual([]);
    // The new run answers an earlier call id with the first decision.
    const again = await latest.executeUpdate(requestToolCallUpdate, { args: [{ callId: prCall, toolId: 'github.create_pr', arguments: PR, requestedAt: new Date().toISOString() }] });
    expect(again).toEqual(pr.body);

    const ended = await world.stack.request('POST', `/v1/tasks/${taskId}/end`);
    expect(ended.body).toMatchObject({ status: 'ended', revoked: expect.arrayContaining(['github.create_pr', 'github.delete_branch', 'wiki.read_page']) });
    await world.recordHistory('continue-as-new-first-run', taskWorkflowId(taskId), handle.firstExecutionRunId);
    await world.recordHistory('continue-as-new-second-run', taskWorkflowId(taskId));
  });
});
