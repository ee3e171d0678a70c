// Just-in-time provisioning through the SCIM connector, against a SCIMMY server on a loopback port.
import { ApplicationFailure } from '@temporalio/common';
import { ScimConnector } from '../../activities/provisioning/scim-connector';
import { startScimTarget, type ScimTarget } from '../support/scim-target';
import { CRM, newTaskId, provisionSaga, provisioningFixture, type ProvisioningFixture } from './fixture';

const EDITORS = 'CRM Editors';
const ADMINS = 'CRM Admins';

let fx: ProvisioningFixture;
let target: ScimTarget;

beforeAll(async () => {
  fx = await provisioningFixture();
});
afterAll(async () => {
  await fx.database.drop();
});
beforeEach(async () => {
  target = await startScimTarget();
  target.addGroup(EDITORS);
  target.addGroup(ADMINS);
  await fx.connect(target);
});
afterEach(async () => {
  await target.stop();
});

const grant = (taskId: string, accountId: string, entitlementId = 'crm-editor') =>
  fx.activities.grantEntitlement({ taskId, appId: CRM.id, accountId, entitlementId });
const revoke = (taskId: string, accountId: string, entitlementId = 'crm-editor') =>
  fx.activities.revokeEntitlement({ taskId, appId: CRM.id, accountId, entitlementId });
const account = (taskId: string, userId = 'p-ada') => fx.activities.provisionAccount({ taskId, appId: CRM.id, userId });
const deactivate = (taskId: string, accountId: string) => fx.activities.deactivateAccount({ taskId, appId: CRM.id, accountId });

async function failure(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected the call to fail');
}

const activeUsers = () => [...target.users.values()].filter((u) => u.active);

describe('granting through SCIM', () => {
  it('creates the user from the directory and adds them to the entitlement group', async () => {
    const taskId = newTaskId();
    const acc = await account(taskId);
    expect(acc).toMatchObject({ created: true, change: { kind: 'account_created', appId: 'crm', accountId: acc.accountId } });
    expect(target.users.get(acc.accountId)).toMatchObject({
      userName: 'ada.lovelace',
      externalId: 'p-ada',
      displayName: 'Ada Lovelace',
      name: { formatted: 'Ada Lovelace', givenName: 'Ada', familyName: 'Lovelace' },
      emails: [{ value: 'ada@example.com', type: 'work', primary: true }],
      active: true,
    });

    const granted = await grant(taskId, acc.accountId);
    expect(granted).toMatchObject({ kind: 'entitlement_granted', accountId: acc.accountId, entitlementId: 'crm-editor' });
    expect(target.membersOf(EDITORS)).toEqual([acc.accountId]);
    const patch = target.requests.find((r) => r.method === 'PATCH' && r.path.startsWith('/Groups/'));
    expect(patch?.body).toEqual({
      schemas: ['urn:ietf:params:scim:api:messages:2.0:PatchOp'],
      Operations: [{ op: 'add', path: 'members', value: [{ value: acc.accountId }] }],
    });
  });

  it('reuses the account for a second task of the same person (created: false) and reports the membership as already present', async () => {
    const first = newTaskId();
    const acc = await account(first);
    await grant(first, acc.accountId);

    const second = newTaskId();
    const again = await account(second);
    expect(again).toMatchObject({ accountId: acc.accountId, created: false, change: { kind: 'account_found' } });
    expect(await grant(second, acc.accountId)).toMatchObject({ kind: 'entitlement_already_present' });
    expect(target.users.size).toBe(1);
    expect(target.membersOf(EDITORS)).toEqual([acc.accountId]);
  });

  it('finds the account by externalId when the userName in the target differs', async () => {
    const existing = target.addUser({ userName: 'ada@corp.example', externalId: 'p-ada' });
    const acc = await account(newTaskId());
    expect(acc).toMatchObject({ accountId: existing.id, created: false });
    expect(target.users.size).toBe(1);
  });

  it('leaves an account and membership the person held before the task in place', async () => {
    const standing = target.addUser({ userName: 'grace.hopper', externalId: 'p-grace' });
    target.groupNamed(EDITORS)!.members.push({ value: standing.id });
    const taskId = newTaskId();
    const result = await provisionSaga(fx.activities, { taskId, appId: CRM.id, userId: 'p-grace', entitlementId: 'crm-editor' });
    expect(result).toMatchObject({ ok: true, accountId: standing.id, created: false, granted: false });

    // Even a caller that asks to undo them does not remove standing access.
    expect(await revoke(taskId, standing.id)).toMatchObject({ kind: 'entitlement_already_present', detail: 'held before this task: left in place' });
    expect(await deactivate(taskId, standing.id)).toMatchObject({ kind: 'account_found', detail: 'not created for this task: left active' });
    expect(target.membersOf(EDITORS)).toEqual([standing.id]);
    expect(target.users.get(standing.id)?.active).toBe(true);
  });

  it('removes nothing when a compensation runs for a step that never got as far as changing the target', async () => {
    const standing = target.addUser({ userName: 'grace.hopper', externalId: 'p-grace' });
    target.groupNamed(EDITORS)!.members.push({ value: standing.id });
    const taskId = newTaskId();
    expect(await revoke(taskId, standing.id)).toMatchObject({ kind: 'entitlement_already_absent', detail: 'this task added no such membership: nothing to remove' });
    expect(await deactivate(taskId, standing.id)).toMatchObject({ kind: 'account_found', detail: 'this task created no account: nothing to deactivate' });
    expect(target.membersOf(EDITORS)).toEqual([standing.id]);
    expect(target.users.get(standing.id)?.active).toBe(true);
    expect(target.requests).toEqual([]);
  });

  it('reactivates an account deactivated when an earlier task ended, as a change the new task must undo', async () => {
    const first = newTaskId();
    const acc = await account(first);
    await deactivate(first, acc.accountId);
    expect(target.users.get(acc.accountId)?.active).toBe(false);

    const second = newTaskId();
    expect(await account(second)).toMatchObject({
      accountId: acc.accountId,
      created: true,
      change: { kind: 'account_created', detail: 'reactivated an inactive account' },
    });
    expect(target.users.get(acc.accountId)?.active).toBe(true);
    expect(await deactivate(second, acc.accountId)).toMatchObject({ kind: 'account_deactivated' });
    expect(target.users.size).toBe(1);
  });
});

describe('revoking and deactivating', () => {
  it('removes the membership and deactivates only the account created for the task', async () => {
    const owner = newTaskId();
    const acc = await account(owner);
    await grant(owner, acc.accountId);
    const other = newTaskId();
    expect((await account(other)).created).toBe(false);

    expect(await deactivate(other, acc.accountId)).toMatchObject({ kind: 'account_found', detail: 'not created for this task: left active' });
    expect(target.users.get(acc.accountId)?.active).toBe(true);

    expect(await revoke(owner, acc.accountId)).toMatchObject({ kind: 'entitlement_revoked', entitlementId: 'crm-editor' });
    expect(target.membersOf(EDITORS)).toEqual([]);
    const groupPatches = target.requests.filter((r) => r.method === 'PATCH' && r.path.startsWith('/Groups/'));
    expect(groupPatches.at(-1)?.body).toMatchObject({ Operations: [{ op: 'remove', path: `members[value eq "${acc.accountId}"]` }] });

    expect(await deactivate(owner, acc.accountId)).toMatchObject({ kind: 'account_deactivated', accountId: acc.accountId });
    expect(target.users.get(acc.accountId)?.active).toBe(false);
    // Asked again (as a retry would), it reports what it did rather than "already inactive".
    expect(await deactivate(owner, acc.accountId)).toMatchObject({ kind: 'account_deactivated', detail: 'done by an earlier attempt of this task' });
  });

  it('reports entitlement_already_absent when the target answers 404 to the remove', async () => {
    const taskId = newTaskId();
    const acc = await account(taskId);
    await grant(taskId, acc.accountId);
    target.failNext({ status: 404, method: 'PATCH', path: /^\/Groups\// });
    expect(await revoke(taskId, acc.accountId)).toMatchObject({ kind: 'entitlement_already_absent' });
  });

  it('reports entitlement_already_absent when the target answers noTarget, or the member or group is gone', async () => {
    const taskId = newTaskId();
    const acc = await account(taskId);
    await grant(taskId, acc.accountId);
    await grant(taskId, acc.accountId, 'crm-admin');
    target.failNext({ status: 400, scimType: 'noTarget', method: 'PATCH', path: /^\/Groups\// });
    expect(await revoke(taskId, acc.accountId)).toMatchObject({ kind: 'entitlement_already_absent' });

    target.groupNamed(ADMINS)!.members = [];
    expect(await revoke(taskId, acc.accountId, 'crm-admin')).toMatchObject({ kind: 'entitlement_already_absent', detail: 'not a member of group "CRM Admins"' });
    target.groups.delete(target.groupNamed(ADMINS)!.id);
    expect(await revoke(taskId, acc.accountId, 'crm-admin')).toMatchObject({ kind: 'entitlement_already_absent', detail: 'group "CRM Admins" no longer exists' });
  });
});

describe('the saga when a step fails half way', () => {
  it('deactivates the account it created when the group PATCH is rejected, leaving no access behind', async () => {
    target.failNext({ status: 400, scimType: 'invalidValue', detail: 'members are read-only here', method: 'PATCH', path: /^\/Groups\// });
    const result = await provisionSaga(fx.activities, { taskId: newTaskId(), appId: CRM.id, userId: 'p-alan', entitlementId: 'crm-editor' });

    expect(result.ok).toBe(false);
    const error = (result as { error: ApplicationFailure }).error;
    expect(error).toBeInstanceOf(ApplicationFailure);
    expect(error).toMatchObject({ type: 'ConnectorRejected', nonRetryable: true });
    expect(activeUsers()).toEqual([]);
    expect(target.membersOf(EDITORS)).toEqual([]);
  });

  it('revokes the membership, then deactivates the account, when a later step fails', async () => {
    const result = await provisionSaga(fx.activities, { taskId: newTaskId(), appId: CRM.id, userId: 'p-alan', entitlementId: 'crm-editor' }, async () => {
      target.requests.length = 0;
      throw new Error('recording the grant failed');
    });

    expect(result.ok).toBe(false);
    expect(activeUsers()).toEqual([]);
    expect(target.membersOf(EDITORS)).toEqual([]);
    const writes = target.requests.filter((r) => r.method === 'PATCH').map((r) => r.path.split('/')[1]);
    expect(writes).toEqual(['Groups', 'Users']);
  });
});

describe('exactly once under retries', () => {
  it('still reports created: true when a retry follows a create whose answer was lost, and creates no second user', async () => {
    const taskId = newTaskId();
    target.failNext({ status: 503, after: true, method: 'POST', path: /^\/Users$/ });
    const lost = await failure(account(taskId));
    expect(lost).not.toBeInstanceOf(ApplicationFailure);
    expect(target.users.size).toBe(1);

    const retried = await account(taskId);
    expect(retried).toMatchObject({ created: true, change: { kind: 'account_created' } });
    expect(target.users.size).toBe(1);
    expect(retried.accountId).toBe([...target.users.keys()][0]);
  });

  it('still reports entitlement_granted when a retry follows a PATCH that added the member but timed out', async () => {
    const taskId = newTaskId();
    const acc = await account(taskId);
    target.failNext({ status: 504, after: true, method: 'PATCH', path: /^\/Groups\// });
    expect(await failure(grant(taskId, acc.accountId))).not.toBeInstanceOf(ApplicationFailure);
    expect(target.membersOf(EDITORS)).toEqual([acc.accountId]);

    expect(await grant(taskId, acc.accountId)).toMatchObject({ kind: 'entitlement_granted', detail: expect.stringMatching(/^absent when this task first looked/) });
    expect(target.membersOf(EDITORS)).toEqual([acc.accountId]);
  });

  it('answers a duplicate execution of each step as the first, creating nothing twice', async () => {
    const taskId = newTaskId();
    const first = await account(taskId);
    const second = await account(taskId);
    expect(second).toMatchObject({ accountId: first.accountId, created: true });
    expect((await grant(taskId, first.accountId)).kind).toBe('entitlement_granted');
    expect((await grant(taskId, first.accountId)).kind).toBe('entitlement_granted');
    expect(target.users.size).toBe(1);
    expect(target.membersOf(EDITORS)).toEqual([first.accountId]);
    const posts = target.requests.filter((r) => r.method === 'POST');
    const adds = target.requests.filter((r) => r.method === 'PATCH');
    expect([posts.length, adds.length]).toEqual([1, 1]);
  });

  it('answers an attempt racing a timed-out one still running like the first, with one user created', async () => {
    const taskId = newTaskId();
    const [a, b] = await Promise.all([account(taskId), account(taskId)]);
    expect([a.created, b.created]).toEqual([true, true]);
    expect(a.accountId).toBe(b.accountId);
    expect(target.users.size).toBe(1);
  });

  it('reports the removal a timed-out revoke made when its retry finds nothing left to remove', async () => {
    const taskId = newTaskId();
    const acc = await account(taskId);
    await grant(taskId, acc.accountId);
    target.failNext({ status: 502, after: true, method: 'PATCH', path: /^\/Groups\// });
    await failure(revoke(taskId, acc.accountId));
    expect(target.membersOf(EDITORS)).toEqual([]);
    expect(await revoke(taskId, acc.accountId)).toMatchObject({ kind: 'entitlement_revoked', detail: 'done by an earlier attempt of this task' });
  });

  it('does not let a second saga of the same task for the same app claim the account it found (sagaId)', async () => {
    const taskId = newTaskId();
    const first = await fx.activities.provisionAccount({ taskId, appId: CRM.id, userId: 'p-ada', sagaId: 'call-1' });
    const second = await fx.activities.provisionAccount({ taskId, appId: CRM.id, userId: 'p-ada', sagaId: 'call-2' });
    expect([first.created, second.created]).toEqual([true, false]);
    expect(await deactivate(taskId, first.accountId)).toMatchObject({ kind: 'account_deactivated' });
  });
});

describe('an account step that failed for good (its undo is not told the account)', () => {
  const undoLost = (taskId: string, sagaId?: string) => fx.activities.deactivateAccount({ taskId, appId: CRM.id, accountId: '', userId: 'p-ada', sagaId });

  it('deactivates the account a create whose answer was lost made, found by the person', async () => {
    const taskId = newTaskId();
    target.failNext({ status: 503, after: true, method: 'POST', path: /^\/Users$/ });
    await failure(fx.activities.provisionAccount({ taskId, appId: CRM.id, userId: 'p-ada', sagaId: 'call-1' }));
    const [created] = target.users.values();
    expect(created).toMatchObject({ userName: 'ada.lovelace', active: true });

    expect(await undoLost(taskId, 'call-1')).toMatchObject({ kind: 'account_deactivated', accountId: created.id });
    expect(target.users.get(created.id)?.active).toBe(false);
    // At the task's end (no saga named): any of its account steps.
    expect(await undoLost(taskId)).toMatchObject({ kind: 'account_deactivated', accountId: created.id, detail: 'done by an earlier attempt of this task' });
  });

  it('changes nothing when the create never reached the target, or the step found the account', async () => {
    const taskId = newTaskId();
    target.failNext({ status: 503, method: 'POST', path: /^\/Users$/ });
    await failure(fx.activities.provisionAccount({ taskId, appId: CRM.id, userId: 'p-ada', sagaId: 'call-1' }));
    expect(target.users.size).toBe(0);
    expect(await undoLost(taskId, 'call-1')).toMatchObject({ kind: 'account_already_inactive', detail: expect.stringContaining('created no account') });

    const held = target.addUser({ userName: 'ada.lovelace', externalId: 'p-ada' });
    const other = newTaskId();
    await fx.activities.provisionAccount({ taskId: other, appId: CRM.id, userId: 'p-ada', sagaId: 'call-2' });
    expect(await undoLost(other, 'call-2')).toMatchObject({ kind: 'account_already_inactive' });
    expect(target.users.get(held.id)?.active).toBe(true);
    expect(target.requests.filter((r) => r.method === 'PATCH')).toEqual([]);
  });

  it("leaves the account another task's step created after this task's create failed", async () => {
    const failed = newTaskId();
    target.failNext({ status: 503, method: 'POST', path: /^\/Users$/ });
    await failure(fx.activities.provisionAccount({ taskId: failed, appId: CRM.id, userId: 'p-ada', sagaId: 'call-1' }));
    const theirs = await account(newTaskId());
    expect(theirs.created).toBe(true);

    expect(await undoLost(failed, 'call-1')).toMatchObject({ kind: 'account_already_inactive' });
    expect(target.users.get(theirs.accountId)?.active).toBe(true);
  });
});

describe('faults and refusals', () => {
  it('uses the existing user when the create answers 409 uniqueness', async () => {
    let concurrent: string | undefined;
    target.failNext({
      status: 409,
      scimType: 'uniqueness',
      method: 'POST',
      path: /^\/Users$/,
      meanwhile: () => (concurrent = target.addUser({ userName: 'ada.lovelace', externalId: 'p-ada' }).id),
    });
    const acc = await account(newTaskId());
    expect(acc.accountId).toBe(concurrent);
    expect(acc.change.detail).toMatch(/409 uniqueness: existing account used/);
    expect(target.users.size).toBe(1);
  });

  it.each([429, 500, 503])('throws a plain, retryable Error when the target answers %i', async (status) => {
    target.failNext({ status, retryAfter: status === 429 ? '2' : undefined });
    const err = await failure(account(newTaskId()));
    expect(err).toBeInstanceOf(Error);
    expect(err).not.toBeInstanceOf(ApplicationFailure);
    expect(err.message).toContain(`answered ${status}`);
  });

  it('throws a plain, retryable Error when the target is unreachable', async () => {
    await target.stop();
    const err = await failure(account(newTaskId()));
    expect(err).not.toBeInstanceOf(ApplicationFailure);
    expect(err.message).toMatch(/crm: SCIM GET \/Users failed/);
    target = await startScimTarget();
  });

  it('rejects a 400 as a non-retryable ConnectorRejected carrying the status and the SCIM detail', async () => {
    target.failNext({ status: 400, scimType: 'invalidValue', detail: 'emails[0].value is not allowed', method: 'POST' });
    const err = await failure(account(newTaskId()));
    expect(err).toBeInstanceOf(ApplicationFailure);
    expect(err).toMatchObject({ type: 'ConnectorRejected', nonRetryable: true });
    expect(err.message).toBe('crm: SCIM POST /Users answered 400 invalidValue: emails[0].value is not allowed');
  });

  it('rejects a wrong bearer token as ConnectorRejected, without echoing the token', async () => {
    await fx.connect({ url: target.url, token: 'not-the-token' });
    const err = await failure(account(newTaskId()));
    expect(err).toMatchObject({ type: 'ConnectorRejected', nonRetryable: true });
    expect(err.message).toContain('answered 401');
    expect(err.message).not.toContain('not-the-token');
  });

  it('rejects a grant whose group does not exist in the target', async () => {
    const taskId = newTaskId();
    const acc = await account(taskId);
    target.groups.delete(target.groupNamed(EDITORS)!.id);
    const err = await failure(grant(taskId, acc.accountId));
    expect(err).toMatchObject({ type: 'ConnectorRejected', nonRetryable: true, message: 'crm: group "CRM Editors" (entitlement crm-editor) does not exist in the target app' });
  });

  it('reports health: ok for a reachable target with a good token, not ok with why otherwise', async () => {
    expect(await new ScimConnector(CRM, { baseUrl: target.url, token: target.token }).health()).toMatchObject({ ok: true });
    const bad = await new ScimConnector(CRM, { baseUrl: target.url, token: 'wrong' }).health();
    expect(bad).toMatchObject({ ok: false, detail: expect.stringContaining('answered 401') });
  });

  it('refuses to provision for an inactive person', async () => {
    const err = await failure(account(newTaskId(), 'p-gone'));
    expect(err).toMatchObject({ type: 'PersonInactive', nonRetryable: true });
    expect(target.users.size).toBe(0);
  });

  it('refuses, without retrying, when the connection secret is missing', async () => {
    await fx.secrets.delete(CRM.connector.secretRef!);
    const err = await failure(account(newTaskId()));
    expect(err).toMatchObject({ type: 'ConnectorMisconfigured', nonRetryable: true });
    expect(err.message).toBe('App crm: the secret store has nothing under "apps/crm/scim".');
  });
});
