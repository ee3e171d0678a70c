// Access JIT provisioned in an app with person accounts (SCIM) is the person's: another active task
// may rely on it (the agent-held path, or its own entitlement on the account the first created).
// A task's end, or a mover's release, hands that access over to the task relying on it instead of
// removing it under its live grant; the receiving task's end removes it.
import { taskWorkflowId } from '../../workflows/messages';
import { createPerson } from '../identity/people';
import { SLACK_IDS, startContextWorld, type ContextWorld } from '../support/context-world';

let world: ContextWorld;

const CUSTOMER = { customerId: 'c-42' };
const PAGE = { pageId: 'p-1' };
const EDIT = { pageId: 'p-1', content: 'New text' };
const EXPORT = { segment: 'churned', destination: 'https://partner.example.com/import' };
const accountOf = (userName: string) => [...world.scim.users.values()].find((u) => u.userName === userName);
const receipts = async (taskId: string) => (await world.traces(taskId)).filter((t) => t.kind === 'revocation' && t.body.revocation !== 'context_removed');
const provisioned = async (taskId: string) => (await world.task(taskId)).body.provisioned as { appId: string; entitlementId: string; status: string }[];
/** The call is held for the approver's yes, then allowed. */
const allowedOnApproval = async (approver: string, taskId: string, toolId: string, args: Record<string, unknown>) =>
  expect((await (await world.approvedBy(approver, taskId, toolId, args)).decided).body).toMatchObject({ decision: 'allow' });
/**
 * A new agent of alice's and a task of it whose customer read carol approved: alice lacks crm, so
 * her account and its crm-users membership are created for that task.
 */
const crmProvisioned = async () => {
  const agentId = await world.newAgent();
  const taskId = await world.newTask({ agentId });
  await allowedOnApproval(SLACK_IDS.carol, taskId, 'crm.read_customer', CUSTOMER);
  return { agentId, taskId, account: accountOf('alice@example.com')! };
};
/**
 * A person with no wiki access and an agent of theirs, whose first task, the reader, bob (the
 * wiki's owner) approved: their account and its wiki-readers membership are created for it.
 */
const wikiReader = async () => {
  const person = await createPerson(world.stack);
  const agentId = await world.newAgent(person.id);
  const reader = await world.newTask({ userId: person.id, agentId });
  await allowedOnApproval(SLACK_IDS.bob, reader, 'wiki.read_page', PAGE);
  return { person, agentId, reader, account: accountOf(person.userName)! };
};
/**
 * After the reader's end: its membership removed, the account it created handed over to the editor
 * (which holds wiki-editors on it), whose own end then removes both.
 */
const accountHandedToEditor = async (reader: string, editor: string, accountId: string) => {
  expect([world.scim.membersOf('wiki-readers'), world.scim.membersOf('wiki-editors')]).toEqual([[], [accountId]]);
  expect(world.scim.users.get(accountId)?.active).toBe(true);
  expect((await receipts(reader)).map((r) => r.body)).toEqual([
    expect.objectContaining({ revocation: 'handed_over', account: true, accountId, toTaskId: editor }),
    expect.objectContaining({ revocation: 'deprovisioned', provisioning: [expect.objectContaining({ kind: 'entitlement_revoked', entitlementId: 'wiki-reader' })] }),
  ]);
  await end(editor);
  expect(world.scim.membersOf('wiki-editors')).toEqual([]);
  expect(world.scim.users.get(accountId)?.active).toBe(false);
};
/** A policy rule forbidding alice's customer reads (exports stay allowed). */
const NO_READS = { id: 'test-no-reads', when: 'tool.id eq "crm.read_customer" and user.id eq "alice"', then: 'deny', reason: { code: 'test', message: 'No reads.' } };
const end = async (taskId: string) => expect((await world.stack.request('POST', `/v1/tasks/${taskId}/end`)).body).toMatchObject({ status: expect.any(String) });

describe.each(['pglite', 'postgres'] as const)('on %s', (engine) => {
  beforeAll(async () => {
    world = await startContextWorld({ engine });
  });
  afterAll(async () => {
    await world?.stop();
  });

  it("hands the agent-held access over to the task that relies on it when the task that provisioned it ends", async () => {
    const { agentId, taskId: first, account } = await crmProvisioned();
    expect(world.scim.membersOf('crm-users')).toEqual([account.id]);

    // The same agent holds that access now: a second task needs only the policy.
    const second = await world.newTask({ agentId });
    expect((await world.call(second, 'crm.read_customer', CUSTOMER)).body).toMatchObject({ decision: 'allow' });
    expect((await world.task(second)).body.context).toEqual([expect.objectContaining({ toolId: 'crm.read_customer', via: 'policy' })]);
    expect(await provisioned(second)).toEqual([]);

    // Before: the first task's end removed the membership and deactivated the account under the second's live grant.
    await end(first);
    expect(world.scim.membersOf('crm-users')).toEqual([account.id]);
    expect(world.scim.users.get(account.id)?.active).toBe(true);
    expect((await receipts(first)).map((r) => r.body)).toEqual([
      expect.objectContaining({ appId: 'crm', entitlementId: 'crm-user', revocation: 'handed_over', toTaskId: second, toolIds: ['crm.read_customer'] }),
    ]);
    expect(await provisioned(first)).toEqual([expect.objectContaining({ appId: 'crm', status: 'handed_over' })]);
    expect(await provisioned(second)).toEqual([expect.objectContaining({ appId: 'crm', entitlementId: 'crm-user', status: 'active' })]);
    expect((await world.call(second, 'crm.read_customer', CUSTOMER)).body).toMatchObject({ decision: 'allow' });

    // The second task's end removes both, as if it had provisioned them.
    await end(second);
    expect(world.scim.membersOf('crm-users')).toEqual([]);
    expect(world.scim.users.get(account.id)?.active).toBe(false);
    expect((await receipts(second)).map((r) => [r.body.revocation, (r.body.provisioning as { kind: string }[]).map((c) => c.kind)])).toEqual([
      ['deprovisioned', ['entitlement_revoked', 'account_deactivated']],
    ]);
  });

  it("hands the account's deactivation over to a task holding another entitlement on it, and removes only the ending task's own", async () => {
    const { person, agentId, reader, account } = await wikiReader();
    // Editing needs bob's approval too, and a membership on the same account.
    const editor = await world.newTask({ userId: person.id, agentId });
    await allowedOnApproval(SLACK_IDS.bob, editor, 'wiki.edit_page', EDIT);
    expect([world.scim.membersOf('wiki-readers'), world.scim.membersOf('wiki-editors')]).toEqual([[account.id], [account.id]]);

    // The reader's end removes its membership; the account, which it created, stays for the editor.
    await end(reader);
    await accountHandedToEditor(reader, editor, account.id);
  });

  it("decides a task's removals only after another task's provisioning saga on the same account, so the account it found stays", async () => {
    const { person, agentId, reader, account } = await wikiReader();
    // The editor's saga finds the reader's account, then waits adding its own membership.
    const adding = world.scim.holdNext({ method: 'PATCH', path: new RegExp(`^/Groups/${world.scim.groupNamed('wiki-editors')!.id}$`) });
    const editor = await world.newTask({ userId: person.id, agentId });
    const { decided } = await world.approvedBy(SLACK_IDS.bob, editor, 'wiki.edit_page', EDIT);
    await adding.reached;
    const readerEnded = end(reader);
    // Before: the reader's end deactivated the account here, under the saga, and the editor was
    // then allowed on a membership of a deactivated account.
    const deactivated = await world.eventually(async () => world.scim.users.get(account.id)?.active === false, 'a deactivation', 3000).catch(() => false);
    expect(deactivated).toBe(false);
    adding.release();
    expect((await decided).body).toMatchObject({ decision: 'allow' });
    await readerEnded;
    await accountHandedToEditor(reader, editor, account.id);
  });

  it("keeps the account a failed saga created when another task built on it meanwhile, and the failed task's end hands it over", async () => {
    const person = await createPerson(world.stack);
    const agentId = await world.newAgent(person.id);
    const readers = `/Groups/${world.scim.groupNamed('wiki-readers')!.id}`;
    // The reader's membership fails on every attempt (a transient error): its saga undoes its steps after the last.
    world.scim.failNext({ method: 'PATCH', path: new RegExp(`^${readers}$`), status: 503, count: 5 });
    const reader = await world.newTask({ userId: person.id, agentId });
    const read = await world.approvedBy(SLACK_IDS.bob, reader, 'wiki.read_page', PAGE);
    await world.eventually(async () => world.scim.requests.some((r) => r.faulted && r.method === 'PATCH' && r.path === readers), "the reader's first attempt");
    const account = accountOf(person.userName)!;
    // Between the reader's attempts, the editor's saga finds the account the reader created and adds its membership.
    const editor = await world.newTask({ userId: person.id, agentId });
    await allowedOnApproval(SLACK_IDS.bob, editor, 'wiki.edit_page', EDIT);
    expect((await read.decided).body).toMatchObject({ decision: 'deny' });

    // Before: the reader's undo deactivated the account under the editor's membership.
    expect(world.scim.users.get(account.id)?.active).toBe(true);
    expect([world.scim.membersOf('wiki-readers'), world.scim.membersOf('wiki-editors')]).toEqual([[], [account.id]]);
    const grant = (await world.traces(reader)).find((t) => t.kind === 'grant');
    expect(grant?.body).toMatchObject({ accountId: account.id, provisioning: [expect.objectContaining({ kind: 'account_kept', accountId: account.id })] });
    expect(await provisioned(reader)).toEqual([expect.objectContaining({ appId: 'wiki', status: 'active' })]);

    await end(reader);
    await world.recordHistory('account-kept', taskWorkflowId(reader));
    expect(world.scim.users.get(account.id)?.active).toBe(true);
    expect((await receipts(reader)).map((r) => r.body)).toContainEqual(expect.objectContaining({ revocation: 'handed_over', account: true, accountId: account.id, toTaskId: editor }));
    await end(editor);
    expect(world.scim.membersOf('wiki-editors')).toEqual([]);
    expect(world.scim.users.get(account.id)?.active).toBe(false);
  });

  it('hands access back to a task that gave it away and relies on it again, whose end then removes it', async () => {
    const { agentId, taskId: provisioning, account } = await crmProvisioned();
    const reading = await world.newTask({ agentId });
    expect((await world.call(reading, 'crm.read_customer', CUSTOMER)).body).toMatchObject({ decision: 'allow' });
    const exporting = await world.newTask({ agentId });
    await allowedOnApproval(SLACK_IDS.carol, exporting, 'crm.export_customers', EXPORT);

    await end(provisioning);
    expect(await provisioned(reading)).toEqual([expect.objectContaining({ entitlementId: 'crm-user', status: 'active' })]);
    // Reads are forbidden for a while: the reading task's grant is revoked and it hands the access on to the export.
    await world.withRule(NO_READS, async () => {
      await world.eventually(async () => (await receipts(reading)).some((r) => r.body.revocation === 'handed_over' && r.body.toTaskId === exporting), 'the hand-over to the export');
    });
    expect(await provisioned(reading)).toEqual([expect.objectContaining({ status: 'handed_over' })]);
    // Reads are allowed again: the reading task relies on the export's access, which comes back to it when the export ends.
    expect((await world.call(reading, 'crm.read_customer', CUSTOMER)).body).toMatchObject({ decision: 'allow' });
    await end(exporting);
    expect(world.scim.membersOf('crm-users')).toEqual([account.id]);
    // Before: the record came back marked removed, so this end left the membership and the account in the app.
    expect(await provisioned(reading)).toEqual([expect.objectContaining({ entitlementId: 'crm-user', status: 'active' })]);
    await end(reading);
    expect(world.scim.membersOf('crm-users')).toEqual([]);
    expect(world.scim.users.get(account.id)?.active).toBe(false);
  });

  it("hands access a mover's revocation leaves unneeded over to the other task whose grant still needs it", async () => {
    const { agentId, taskId: reading, account } = await crmProvisioned();
    // An export needs the same crm-user entitlement, which the agent holds: only its escalation's approval.
    const exporting = await world.newTask({ agentId });
    await allowedOnApproval(SLACK_IDS.carol, exporting, 'crm.export_customers', EXPORT);
    expect(await provisioned(exporting)).toEqual([]);

    // A new policy version forbids alice's customer reads; exports stay allowed: only the reading grant is revoked.
    await world.withRule(NO_READS, async () => {
      const handed = await world.eventually(async () => (await receipts(reading)).find((r) => r.body.revocation === 'handed_over'), 'the release to hand the access over');
      expect(handed.body).toMatchObject({ appId: 'crm', entitlementId: 'crm-user', toTaskId: exporting, toolIds: ['crm.export_customers'] });
      // Before: the release removed the membership under the export's live grant.
      expect(world.scim.membersOf('crm-users')).toEqual([account.id]);
      expect(await provisioned(reading)).toEqual([expect.objectContaining({ status: 'handed_over' })]);
      expect(await provisioned(exporting)).toEqual([expect.objectContaining({ appId: 'crm', status: 'active' })]);
      expect((await world.task(exporting)).body.context).toEqual([expect.objectContaining({ toolId: 'crm.export_customers' })]);
    });
    await end(reading);
    expect(world.scim.membersOf('crm-users')).toEqual([account.id]);
    await end(exporting);
    expect(world.scim.membersOf('crm-users')).toEqual([]);
    expect(world.scim.users.get(account.id)?.active).toBe(false);
  });
});
