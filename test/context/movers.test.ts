// Movers and the task workflow: a tool a mover's re-evaluation took away comes back only by the path
// its reach requires (the mover revokes the grant outside the workflow, which still held the tool in
// its context), and the access JIT provisioned for it (a membership, a minted key) is removed at once.
import { credentialKey } from '../../activities/provisioning/credential-connector';
import { taskWorkflowId } from '../../workflows/messages';
import { patchOps, scim } from '../identity/people';
import { SLACK_IDS, startContextWorld, type ContextWorld } from '../support/context-world';

let world: ContextWorld;
beforeAll(async () => {
  world = await startContextWorld();
});
afterAll(async () => {
  await world?.stop();
});

const PAGE = { pageId: 'p-1' };
const userType = (value: string) => scim(world.stack, 'PATCH', '/Users/alice', patchOps({ op: 'replace', path: 'userType', value }));

it('asks the person to confirm again a tool a mover revoked, once the change is undone', async () => {
  const taskId = await world.newTask({ agentId: await world.newAgent() });
  // alice holds wiki-reader, her agent does not: she confirms.
  const held = await world.call(taskId, 'wiki.read_page', PAGE);
  expect(held.status).toBe(202);
  const waiting = world.call(taskId, 'wiki.read_page', PAGE, { callId: held.body.callId, waitSeconds: 20 });
  expect(await world.click(SLACK_IDS.alice, 'confirm', (await world.card(SLACK_IDS.alice, taskId)).value)).toBe(200);
  expect((await waiting).body).toMatchObject({ decision: 'allow' });
  await world.eventually(async () => (await world.task(taskId)).body.pending.length === 0, 'the hold to close');

  // Reads are for employees: the mover revokes the grant; undone, the policy allows reads again.
  expect((await userType('Contractor')).status).toBe(200);
  expect((await world.task(taskId)).body.revoked).toEqual([expect.objectContaining({ toolId: 'wiki.read_page', status: 'revoked' })]);
  expect((await userType('Employee')).status).toBe(200);

  // Before the fix this was allowed at once, as if still in context: no confirmation, no grant.
  const again = await world.call(taskId, 'wiki.read_page', PAGE);
  expect(again.status).toBe(202);
  expect(again.body).toMatchObject({ decision: 'pending' });
  expect(await world.click(SLACK_IDS.alice, 'confirm', (await world.card(SLACK_IDS.alice, taskId, { nth: 1 })).value)).toBe(200);
  const decided = await world.call(taskId, 'wiki.read_page', PAGE, { callId: again.body.callId, waitSeconds: 20 });
  expect(decided.body).toMatchObject({ decision: 'allow' });
  const trace = await world.stack.services.traces.get(decided.body.traceId);
  expect(trace?.body).toMatchObject({ grantedVia: 'user-confirmation', approvals: [expect.objectContaining({ personId: 'alice', choice: 'confirm' })] });
  expect((await world.task(taskId)).body.context).toEqual([expect.objectContaining({ toolId: 'wiki.read_page', via: 'user-confirmation' })]);
  // The next call is in context again.
  expect((await world.call(taskId, 'wiki.read_page', PAGE)).body).toMatchObject({ decision: 'allow' });

  await world.stack.request('POST', `/v1/tasks/${taskId}/end`);
  await world.recordHistory('mover-regrant', taskWorkflowId(taskId));
});

const CUSTOMER = { customerId: 'c-42' };

/** alice lacks crm: asks for crm.read_customer and has carol approve it for the task (card `nth` of the task). */
async function approved(taskId: string, nth: number) {
  return (await (await world.approvedBy(SLACK_IDS.carol, taskId, 'crm.read_customer', CUSTOMER, { nth })).decided).body;
}

const aliceInTarget = () => [...world.scim.users.values()].filter((u) => u.userName === 'alice@example.com');

it('removes the JIT entitlement of a grant a mover revoked at once, keeps the account, and provisions it again on a new approval', async () => {
  const taskId = await world.newTask({ agentId: await world.newAgent() });
  // alice lacks crm: carol approves, her account and the crm-users membership are created.
  expect(await approved(taskId, 0)).toMatchObject({ decision: 'allow' });
  const [account] = aliceInTarget();
  expect(world.scim.membersOf('crm-users')).toEqual([account.id]);

  // Reads are for employees: the mover revokes the grant, and the workflow removes the membership.
  expect((await userType('Contractor')).status).toBe(200);
  await world.eventually(async () => world.scim.membersOf('crm-users').length === 0, 'the membership to be removed');
  expect(world.scim.users.get(account.id)?.active).toBe(true); // the account stays for the collapse
  const released = await world.eventually(async () => (await world.traces(taskId)).find((t) => t.kind === 'revocation' && t.body.revocation === 'deprovisioned'), 'its receipt');
  expect(released.body).toMatchObject({ appId: 'crm', entitlementId: 'crm-user', cause: 'mover_reevaluation' });
  expect((released.body.provisioning as { kind: string }[]).map((c) => c.kind)).toEqual(['entitlement_revoked']);
  expect((await world.task(taskId)).body).toMatchObject({ status: 'active', context: [], provisioned: [expect.objectContaining({ appId: 'crm', status: 'released' })] });

  // Back to employee: a new approval, and the same account is a member again.
  expect((await userType('Employee')).status).toBe(200);
  expect(await approved(taskId, 1)).toMatchObject({ decision: 'allow' });
  expect(world.scim.membersOf('crm-users')).toEqual([account.id]);
  expect((await world.task(taskId)).body.provisioned).toEqual([expect.objectContaining({ appId: 'crm', status: 'active' })]);

  // The end removes the membership again and deactivates the account JIT created.
  expect((await world.stack.request('POST', `/v1/tasks/${taskId}/end`)).body).toMatchObject({ status: 'ended' });
  expect(world.scim.membersOf('crm-users')).toEqual([]);
  expect(world.scim.users.get(account.id)?.active).toBe(false);
  expect((await world.task(taskId)).body.provisioned).toEqual([expect.objectContaining({ status: 'revoked' })]);
  await world.recordHistory('mover-releases-access', taskWorkflowId(taskId));
});

it('raises revoke_failed when the target refuses the removal, and the collapse removes it once it recovers', async () => {
  const { taskId } = await world.startTaskWorkflow({ agentId: await world.newAgent(), deprovisionAttempts: 2, revokeRetryPauseSeconds: 1 });
  expect(await approved(taskId, 0)).toMatchObject({ decision: 'allow' });
  const [account] = aliceInTarget();
  expect(world.scim.membersOf('crm-users')).toEqual([account.id]);

  world.scimProxy.failing = true;
  try {
    expect((await userType('Contractor')).status).toBe(200);
    const failed = await world.eventually(async () => {
      const view = (await world.task(taskId)).body;
      return view.provisioned[0]?.status === 'revoke_failed' && view;
    }, 'the access to show revoke_failed');
    expect(failed).toMatchObject({ status: 'active', context: [], provisioned: [expect.objectContaining({ appId: 'crm', error: expect.stringContaining('503') })] });
    expect(world.scim.membersOf('crm-users')).toEqual([account.id]);
  } finally {
    world.scimProxy.failing = false;
    await userType('Employee');
  }

  // Not dropped: the end removes it.
  expect((await world.stack.request('POST', `/v1/tasks/${taskId}/end`)).body).toMatchObject({ status: 'ended' });
  expect(world.scim.membersOf('crm-users')).toEqual([]);
  expect(world.scim.users.get(account.id)?.active).toBe(false);
  // The grant's receipt is the mover's; the access's are the alarm and the collapse's removal.
  const receipts = (await world.traces(taskId)).filter((t) => t.kind === 'revocation');
  expect(receipts.map((t) => [t.body.revocation, t.body.cause])).toEqual([
    ['mover_reevaluation', expect.any(String)],
    ['revoke_failed', 'mover_reevaluation'],
    ['deprovisioned', undefined],
  ]);
  expect((await world.task(taskId)).body.provisioned).toEqual([expect.objectContaining({ status: 'revoked' })]);
});

it('destroys at once the key minted for a grant a mover revoked', async () => {
  // dave (support) may refund; he holds no payments access: carol approves, a key is minted for the task.
  const taskId = await world.newTask({ userId: 'dave', agentId: await world.newAgent('dave') });
  const allowed = (await (await world.approvedBy(SLACK_IDS.carol, taskId, 'payments.refund', { amount: 250, orderId: 'o-7' })).decided).body;
  expect(allowed).toMatchObject({ decision: 'allow', credentialRef: expect.any(String) });
  const key = credentialKey(taskId, 'payments', 'payments-api');
  expect(await world.stack.services.secrets.get(key)).toBeDefined();

  // Refunds are for the support group: leaving it revokes the grant, and the key is destroyed.
  const support = (op: object) => scim(world.stack, 'PATCH', '/Groups/support', patchOps(op));
  expect((await support({ op: 'remove', path: 'members[value eq "dave"]' })).status).toBe(200);
  try {
    await world.eventually(async () => (await world.stack.services.secrets.get(key)) === undefined, 'the key to be destroyed');
    expect((await world.stack.request('POST', '/v1/credentials/resolve', { body: { credentialRef: allowed.credentialRef } })).status).toBe(410);
    const released = await world.eventually(async () => (await world.traces(taskId)).find((t) => t.body.revocation === 'deprovisioned'), 'its receipt');
    expect(released.body).toMatchObject({ appId: 'payments', cause: 'mover_reevaluation' });
    expect((released.body.provisioning as { kind: string }[]).map((c) => c.kind)).toEqual(['credential_destroyed']);
    expect((await world.task(taskId)).body).toMatchObject({ status: 'active', provisioned: [expect.objectContaining({ appId: 'payments', status: 'released' })] });
  } finally {
    await support({ op: 'add', path: 'members', value: [{ value: 'dave' }] });
  }
  expect((await world.stack.request('POST', `/v1/tasks/${taskId}/end`)).body).toMatchObject({ status: 'ended' });
});

it("denies a held call whose grant a mover revoked while it waited, when its reach now asks for more than the hold's answer gives", async () => {
  const taskId = await world.newTask({ userId: 'dave', agentId: await world.newAgent('dave') });
  const small = (await (await world.approvedBy(SLACK_IDS.carol, taskId, 'payments.refund', { amount: 250, orderId: 'o-7' })).decided).body;
  expect(small).toMatchObject({ decision: 'allow', credentialRef: expect.any(String) });
  // A large refund with the tool in context is held for carol, the payments owner.
  const large = { amount: 1500, orderId: 'o-8' };
  const callId = `call-${taskId}-large`;
  expect((await world.call(taskId, 'payments.refund', large, { callId })).status).toBe(202);
  const card = await world.card(SLACK_IDS.carol, taskId, { nth: 1 });

  // dave leaves the support group while it waits (the grant is revoked, its key destroyed), then comes back.
  const support = (op: object) => scim(world.stack, 'PATCH', '/Groups/support', patchOps(op));
  expect((await support({ op: 'remove', path: 'members[value eq "dave"]' })).status).toBe(200);
  try {
    await world.eventually(async () => (await world.stack.services.secrets.get(credentialKey(taskId, 'payments', 'payments-api'))) === undefined, 'the key to be destroyed');
  } finally {
    expect((await support({ op: 'add', path: 'members', value: [{ value: 'dave' }] })).status).toBe(200);
  }

  // Before: carol's "once" let the refund through with no grant and no key; the tool's reach now
  // asks for a new key, which her answer to the amount does not give.
  expect(await world.click(SLACK_IDS.carol, 'approve_once', card.value)).toBe(200);
  const decided = (await world.call(taskId, 'payments.refund', large, { callId, waitSeconds: 30 })).body;
  expect(decided).toMatchObject({ decision: 'deny', reason: { code: 'access_changed' } });
  expect(decided.credentialRef).toBeUndefined();
  // Called again, the refund takes that path: held for carol, then allowed with a new key.
  const again = (await (await world.approvedBy(SLACK_IDS.carol, taskId, 'payments.refund', large, { nth: 2 })).decided).body;
  expect(again).toMatchObject({ decision: 'allow', credentialRef: expect.any(String) });
  await world.recordHistory('held-call-access-changed', taskWorkflowId(taskId));
  expect((await world.stack.request('POST', `/v1/tasks/${taskId}/end`)).body).toMatchObject({ status: 'ended' });
});
