// A tool the person lacks (alice + crm.read_customer; crm is SCIM-connected, owned by carol): the
// approval chain, then just-in-time provisioning in a real SCIM server, and deprovisioning when the
// task ends — also when the target fails for a while, and when the worker dies mid-provisioning.
import { randomUUID } from 'node:crypto';
import { taskWorkflowId } from '../../workflows/messages';
import { SLACK_IDS, startContextWorld, type ContextWorld } from '../support/context-world';

let world: ContextWorld;
beforeAll(async () => {
  world = await startContextWorld({ stepTimeoutSeconds: 300 });
});
afterAll(async () => {
  await world?.stop();
});

const CUSTOMER = { customerId: 'c-42' };
const aliceInTarget = () => [...world.scim.users.values()].filter((u) => u.userName === 'alice@example.com');

/** Asks for crm.read_customer and has carol approve it for the task; resolves with the gateway's answer. */
async function approvedByCarol(taskId: string, waitSeconds = 30) {
  const { callId, card, decided } = await world.approvedBy(SLACK_IDS.carol, taskId, 'crm.read_customer', CUSTOMER, { waitSeconds });
  expect(card.text).toContain('crm.read_customer');
  return { callId, decided };
}

/** The next membership PATCH takes effect and its answer is lost (a 503); `meanwhile` runs as it fails. */
function membershipAnswerLost(meanwhile: () => void): void {
  world.scim.failNext({ status: 503, method: 'PATCH', path: /^\/Groups\//, after: true, meanwhile });
}

describe('just-in-time provisioning', () => {
  it('provisions the account and group membership after the app owner approves, and removes both when the task ends', async () => {
    const taskId = await world.newTask({ agentId: await world.newAgent() });
    const { callId, decided } = await approvedByCarol(taskId);
    const res = await decided;
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ callId, decision: 'allow' });

    const [account] = aliceInTarget();
    expect(account).toMatchObject({ externalId: 'alice', active: true });
    expect(world.scim.membersOf('crm-users')).toEqual([account.id]);
    const view = (await world.task(taskId)).body;
    expect(view.context).toEqual([expect.objectContaining({ toolId: 'crm.read_customer', appId: 'crm', via: 'provisioning' })]);
    expect(view.provisioned).toEqual([expect.objectContaining({ appId: 'crm', entitlementId: 'crm-user', status: 'active' })]);
    const grant = (await world.traces(taskId)).find((t) => t.kind === 'grant');
    expect((grant?.body.provisioning as { kind: string }[]).map((c) => c.kind)).toEqual(['account_created', 'entitlement_granted']);
    expect((await world.stack.services.traces.get(res.body.traceId))?.body).toMatchObject({
      grantedVia: 'provisioning',
      approvals: [expect.objectContaining({ personId: 'carol', choice: 'approve_task' })],
    });

    // The next call of the tool is decided from the projection.
    expect((await world.call(taskId, 'crm.read_customer', { customerId: 'c-43' })).body.decision).toBe('allow');

    const ended = await world.stack.request('POST', `/v1/tasks/${taskId}/end`);
    expect(ended.body).toEqual({ taskId, status: 'ended', revoked: ['crm.read_customer'] });
    expect(world.scim.membersOf('crm-users')).toEqual([]);
    expect(world.scim.users.get(account.id)?.active).toBe(false);
    const revocations = (await world.traces(taskId)).filter((t) => t.kind === 'revocation');
    expect(revocations.map((r) => r.body.revocation)).toEqual(['deprovisioned', 'context_removed']);
    expect((revocations[0].body.provisioning as { kind: string }[]).map((c) => c.kind)).toEqual(['entitlement_revoked', 'account_deactivated']);
    expect(revocations[1].body).toMatchObject({ toolId: 'crm.read_customer', grantedVia: 'provisioning', endedBy: 'gateway' });
    expect((await world.task(taskId)).body.provisioned).toEqual([expect.objectContaining({ status: 'revoked' })]);

    // The SCIM bearer token never reaches the workflow's history.
    expect(await world.historyText(taskId)).not.toContain(world.scim.token);
    await world.recordHistory('jit-provisioning', taskWorkflowId(taskId));
  });

  it('provisions exactly once when the worker dies while the membership is being added', async () => {
    const taskId = await world.newTask({ agentId: await world.newAgent() });
    let stopping: Promise<void> | undefined;
    // The member is added, its answer is lost, and the worker goes down.
    membershipAnswerLost(() => (stopping = world.stack.stopWorker()));
    const { callId, decided } = await approvedByCarol(taskId, 60);
    await world.eventually(async () => stopping !== undefined, 'the worker to be stopped');
    await stopping;
    const [account] = aliceInTarget();
    expect(world.scim.membersOf('crm-users')).toEqual([account.id]);

    await world.stack.startWorker();
    expect((await decided).body).toMatchObject({ callId, decision: 'allow' });
    expect(aliceInTarget()).toHaveLength(1);
    expect(world.scim.membersOf('crm-users')).toEqual([account.id]);
    expect(await world.stack.services.tasks.grants(taskId)).toHaveLength(1);
    expect(await world.stack.services.provisioned.ofTask(taskId)).toEqual([expect.objectContaining({ appId: 'crm', entitlementGranted: true })]);

    // What the retried step added is still the task's: ending the task removes it.
    await world.stack.request('POST', `/v1/tasks/${taskId}/end`);
    expect(world.scim.membersOf('crm-users')).toEqual([]);
    await world.recordHistory('provisioning-across-worker-restart', taskWorkflowId(taskId));
  });

  it('denies an approved call whose task ends while its access is being provisioned, and removes that access', async () => {
    const taskId = await world.newTask({ agentId: await world.newAgent() });
    let ending: ReturnType<ContextWorld['stack']['request']> | undefined;
    // The member is added, its answer is lost (the step retries), and meanwhile the task ends.
    membershipAnswerLost(() => (ending = world.stack.request('POST', `/v1/tasks/${taskId}/end`)));
    const { callId, decided } = await approvedByCarol(taskId);
    // Still pending when the end came: denied (before, it was allowed, then revoked by the collapse).
    expect((await decided).body).toMatchObject({ callId, decision: 'deny', reason: { code: 'task_not_active' } });
    expect((await ending!).body).toEqual({ taskId, status: 'ended', revoked: [] });
    expect(world.scim.membersOf('crm-users')).toEqual([]);
    expect(aliceInTarget().every((u) => !u.active)).toBe(true);
    expect((await world.task(taskId)).body).toMatchObject({ context: [], provisioned: [expect.objectContaining({ appId: 'crm', status: 'revoked' })] });
    expect((await world.traces(taskId)).filter((t) => t.kind === 'decision').map((t) => t.body.decision)).toEqual(['deny']);
    await world.recordHistory('provisioning-then-ended', taskWorkflowId(taskId));
  });

  it('deactivates the account its create made when the account step fails for good after it (answer lost, retries failing)', async () => {
    for (const earlier of aliceInTarget()) world.scim.users.delete(earlier.id);
    const taskId = await world.newTask({ agentId: await world.newAgent() });
    // The user is created and the answer lost; every retry of the step then fails looking for it.
    world.scim.failNext({ status: 503, method: 'POST', path: /^\/Users$/, after: true, meanwhile: () => world.scim.failNext({ status: 503, method: 'GET', path: /^\/Users$/, count: 4 }) });
    const { callId, decided } = await approvedByCarol(taskId);
    expect((await decided).body).toMatchObject({ callId, decision: 'deny' });
    // Before, the saga had no account id to undo with: the account stayed active in the app.
    const [account] = aliceInTarget();
    expect(account).toMatchObject({ externalId: 'alice', active: false });
    expect((await world.task(taskId)).body).toMatchObject({ context: [], provisioned: [] });
    // What the saga added and took back has its receipt.
    const rolledBack = (await world.traces(taskId)).filter((t) => t.kind === 'revocation');
    expect(rolledBack.map((t) => t.body)).toEqual([
      expect.objectContaining({ callId, appId: 'crm', entitlementId: 'crm-user', revocation: 'rolled_back', error: expect.stringContaining('503') }),
    ]);
    expect(rolledBack[0].body.provisioning).toEqual([expect.objectContaining({ kind: 'account_deactivated', accountId: account.id })]);

    expect((await world.stack.request('POST', `/v1/tasks/${taskId}/end`)).body).toEqual({ taskId, status: 'ended', revoked: [] });
    await world.recordHistory('account-step-failed', taskWorkflowId(taskId));
  });

  it('allows a second held call of the tool, approved after the first was provisioned, without provisioning again', async () => {
    const taskId = await world.newTask({ agentId: await world.newAgent() });
    // Two calls of the tool, each held for carol's approval (neither is in the context yet).
    const first = await approvedByCarol(taskId);
    const second = `call-${randomUUID()}`;
    expect((await world.call(taskId, 'crm.read_customer', { customerId: 'c-43' }, { callId: second })).status).toBe(202);
    const secondCard = await world.card(SLACK_IDS.carol, taskId, { nth: 1 });
    expect((await first.decided).body).toMatchObject({ decision: 'allow' });
    const account = aliceInTarget()[0];

    // The second approval finds the tool in the context: a policy re-check, nothing to provision.
    const waiting = world.call(taskId, 'crm.read_customer', { customerId: 'c-43' }, { callId: second, waitSeconds: 30 });
    expect(await world.click(SLACK_IDS.carol, 'approve_task', secondCard.value)).toBe(200);
    expect((await waiting).body).toMatchObject({ callId: second, decision: 'allow' });
    expect(aliceInTarget()).toEqual([account]);
    expect((await world.traces(taskId)).filter((t) => t.kind === 'grant')).toHaveLength(1);
    expect((await world.task(taskId)).body.provisioned).toEqual([expect.objectContaining({ appId: 'crm', entitlementId: 'crm-user', status: 'active' })]);

    // Before, the second provisioning ran with no entitlement and its record failed forever: the
    // task could not end.
    const ended = await world.stack.request('POST', `/v1/tasks/${taskId}/end`);
    expect(ended.body).toEqual({ taskId, status: 'ended', revoked: ['crm.read_customer'] });
    expect(world.scim.membersOf('crm-users')).toEqual([]);
    await world.recordHistory('jit-second-approval-in-context', taskWorkflowId(taskId));
  });
});

describe('deprovisioning against a failing target', () => {
  it('raises revoke_failed after the retry budget, keeps trying, and revokes once the target recovers', async () => {
    const { taskId } = await world.startTaskWorkflow({ agentId: await world.newAgent(), deprovisionAttempts: 2, revokeRetryPauseSeconds: 1 });
    const { decided } = await approvedByCarol(taskId);
    expect((await decided).body.decision).toBe('allow');
    const [account] = aliceInTarget();
    expect(world.scim.membersOf('crm-users')).toEqual([account.id]);

    world.scimProxy.failing = true;
    const ending = world.stack.request('POST', `/v1/tasks/${taskId}/end`);
    try {
      const failed = await world.eventually(async () => {
        const view = (await world.task(taskId)).body;
        return view.provisioned[0]?.status === 'revoke_failed' && view;
      }, 'the grant to show revoke_failed');
      expect(failed.provisioned).toEqual([expect.objectContaining({ appId: 'crm', entitlementId: 'crm-user', status: 'revoke_failed', error: expect.stringContaining('503') })]);
      // The revocation mark came first: the task is over and its tools are denied at once.
      expect(failed.status).toBe('ended');
      expect((await world.call(taskId, 'crm.read_customer', CUSTOMER)).body).toMatchObject({ decision: 'deny', reason: { code: 'task_not_active' } });
      const alarm = (await world.traces(taskId)).find((t) => t.kind === 'revocation' && t.body.revocation === 'revoke_failed');
      expect(alarm?.body).toMatchObject({ appId: 'crm', entitlementId: 'crm-user', error: expect.stringContaining('503') });
      expect(world.scim.membersOf('crm-users')).toEqual([account.id]);
    } finally {
      world.scimProxy.failing = false;
    }

    const ended = await ending;
    expect(ended.body).toMatchObject({ taskId, status: 'ended' });
    expect(world.scim.membersOf('crm-users')).toEqual([]);
    expect(world.scim.users.get(account.id)?.active).toBe(false);
    expect((await world.task(taskId)).body.provisioned).toEqual([expect.objectContaining({ status: 'revoked' })]);
    expect((await world.traces(taskId)).filter((t) => t.kind === 'revocation').map((t) => t.body.revocation)).toEqual(
      expect.arrayContaining(['revoke_failed', 'deprovisioned', 'context_removed']),
    );
    expect(await world.historyText(taskId)).not.toContain(world.scim.token);
    await world.recordHistory('revoke-failed-then-recovered', taskWorkflowId(taskId));
  });

  it('keeps an account whose create lost its answer as revoke_failed when the target stays down, and deactivates it at the end', async () => {
    for (const earlier of aliceInTarget()) world.scim.users.delete(earlier.id);
    const { taskId } = await world.startTaskWorkflow({ agentId: await world.newAgent(), deprovisionAttempts: 2, revokeRetryPauseSeconds: 1 });
    // The user is created, its answer lost, and the target goes down: the step and its undo both fail.
    world.scim.failNext({ status: 503, method: 'POST', path: /^\/Users$/, after: true, meanwhile: () => (world.scimProxy.failing = true) });
    try {
      const { decided } = await approvedByCarol(taskId);
      expect((await decided).body.decision).toBe('deny');
      const view = (await world.task(taskId)).body;
      expect(view.provisioned).toEqual([expect.objectContaining({ appId: 'crm', status: 'revoke_failed', error: expect.stringContaining('503') })]);
      expect(aliceInTarget()).toEqual([expect.objectContaining({ active: true })]);
    } finally {
      world.scimProxy.failing = false;
    }

    const ended = await world.stack.request('POST', `/v1/tasks/${taskId}/end`);
    expect(ended.body).toMatchObject({ taskId, status: 'ended' });
    expect(aliceInTarget()).toEqual([expect.objectContaining({ active: false })]);
    expect((await world.task(taskId)).body.provisioned).toEqual([expect.objectContaining({ status: 'revoked' })]);
  });
});
