// Apps whose access is a per-task credential, and apps with nothing to provision.
import { ApplicationFailure } from '@temporalio/common';
import { credentialKey } from '../../activities/provisioning/credential-connector';
import { newTaskId, provisionSaga, provisioningFixture, WAREHOUSE, WIKI, type ProvisioningFixture } from './fixture';

let fx: ProvisioningFixture;

beforeAll(async () => {
  fx = await provisioningFixture();
});
afterAll(async () => {
  await fx.database.drop();
});

describe('credential apps', () => {
  it('has no account to create: the task holds the credential', async () => {
    const taskId = newTaskId();
    const account = await fx.activities.provisionAccount({ taskId, appId: WAREHOUSE.id, userId: 'p-ada' });
    expect(account).toMatchObject({ accountId: `task:${taskId}`, created: false, change: { kind: 'account_found', appId: 'warehouse' } });
    expect(await fx.activities.deactivateAccount({ taskId, appId: WAREHOUSE.id, accountId: account.accountId })).toMatchObject({ kind: 'account_found' });
  });

  it('mints a random secret scoped to the task and entitlement, and keeps it when the grant is retried', async () => {
    const taskId = newTaskId();
    const granted = await fx.activities.grantEntitlement({ taskId, appId: WAREHOUSE.id, accountId: `task:${taskId}`, entitlementId: 'warehouse-read' });
    expect(granted).toMatchObject({ kind: 'credential_minted', entitlementId: 'warehouse-read' });
    const secret = await fx.secrets.get(credentialKey(taskId, WAREHOUSE.id, 'warehouse-read'));
    expect(secret).toMatchObject({ type: 'bearer', scope: 'warehouse-read', taskId, token: expect.stringMatching(/^[\w-]{43}$/) });

    const retried = await fx.activities.grantEntitlement({ taskId, appId: WAREHOUSE.id, accountId: `task:${taskId}`, entitlementId: 'warehouse-read' });
    expect(retried.kind).toBe('credential_minted');
    expect(await fx.secrets.get(credentialKey(taskId, WAREHOUSE.id, 'warehouse-read'))).toEqual(secret);

    const otherTask = newTaskId();
    await fx.activities.grantEntitlement({ taskId: otherTask, appId: WAREHOUSE.id, accountId: `task:${otherTask}`, entitlementId: 'warehouse-read' });
    const other = await fx.secrets.get(credentialKey(otherTask, WAREHOUSE.id, 'warehouse-read'));
    expect(other?.token).not.toBe(secret?.token);
  });

  it('makes the secret unreadable after revoke, and the saga pushes that compensation', async () => {
    const taskId = newTaskId();
    const saga = await provisionSaga(fx.activities, { taskId, appId: WAREHOUSE.id, userId: 'p-ada', entitlementId: 'warehouse-read' }, async () => {
      throw new Error('recording the grant failed');
    });
    expect(saga.ok).toBe(false);
    expect(await fx.secrets.get(credentialKey(taskId, WAREHOUSE.id, 'warehouse-read'))).toBeUndefined();

    const kept = newTaskId();
    await fx.activities.grantEntitlement({ taskId: kept, appId: WAREHOUSE.id, accountId: `task:${kept}`, entitlementId: 'warehouse-read' });
    const revoked = await fx.activities.revokeEntitlement({ taskId: kept, appId: WAREHOUSE.id, accountId: `task:${kept}`, entitlementId: 'warehouse-read' });
    expect(revoked).toMatchObject({ kind: 'credential_destroyed', entitlementId: 'warehouse-read' });
    expect(await fx.secrets.get(credentialKey(kept, WAREHOUSE.id, 'warehouse-read'))).toBeUndefined();
    expect(await fx.activities.revokeEntitlement({ taskId: kept, appId: WAREHOUSE.id, accountId: `task:${kept}`, entitlementId: 'warehouse-read' })).toMatchObject({
      kind: 'credential_destroyed',
      detail: 'nothing left to destroy',
    });
  });

  it('derives one key per task, app and entitlement', () => {
    expect(credentialKey('t1', 'warehouse', 'warehouse-read')).toBe('tasks/t1/apps/warehouse/credentials/warehouse-read');
    expect(credentialKey('t1', 'warehouse')).toBe('tasks/t1/apps/warehouse/credentials/default');
    expect(new Set([credentialKey('t1', 'a', 'e'), credentialKey('t2', 'a', 'e'), credentialKey('t1', 'b', 'e'), credentialKey('t1', 'a', 'f')]).size).toBe(4);
  });
});

describe('apps with nothing to provision', () => {
  it('refuses a connector of type none with a non-retryable failure', async () => {
    const err = await fx.activities.provisionAccount({ taskId: newTaskId(), appId: WIKI.id, userId: 'p-ada' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApplicationFailure);
    expect(err).toMatchObject({ type: 'NothingToProvision', nonRetryable: true });
  });

  it('refuses an app that is not in the active policy', async () => {
    const err = await fx.activities.grantEntitlement({ taskId: newTaskId(), appId: 'nope', accountId: 'x', entitlementId: 'y' }).catch((e: unknown) => e);
    expect(err).toMatchObject({ type: 'AppUnknown', nonRetryable: true });
  });
});
