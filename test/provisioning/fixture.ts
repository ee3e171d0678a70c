// What the provisioning tests share: apps of each connector type, a seeded directory on a real
// PGlite database, the real encrypted secret store, and the workflow's saga step for step.
import { randomBytes, randomUUID } from 'node:crypto';
import { createProvisioningActivities, type ProvisioningActivities } from '../../activities/provisioning/activities';
import { DirectoryRepository, type SeedPerson } from '../../src/directory/directory-repository';
import type { App } from '../../src/policy/bundle';
import { EncryptedSecretStore } from '../../src/vault/encrypted-secret-store';
import { testDatabase, type TestDatabase } from '../support/databases';
import type { ScimTarget } from '../support/scim-target';

const app = (id: string, connector: App['connector'], entitlements: App['entitlements']): App => ({
  id,
  name: id.toUpperCase(),
  category: 'business',
  riskLevel: 'high',
  dataClassification: 'customer',
  owner: 'p-owner',
  connector,
  entitlements,
});

export const CRM = app('crm', { type: 'scim', secretRef: 'apps/crm/scim' }, [
  { id: 'crm-editor', name: 'Editor', group: 'CRM Editors' },
  { id: 'crm-admin', name: 'Admin', group: 'CRM Admins' },
]);
export const WAREHOUSE = app('warehouse', { type: 'credential' }, [{ id: 'warehouse-read', name: 'Read' }]);
export const WIKI = app('wiki', { type: 'none' }, [{ id: 'wiki-read', name: 'Read' }]);

export const PEOPLE: SeedPerson[] = [
  { id: 'p-ada', userName: 'ada.lovelace', displayName: 'Ada Lovelace', email: 'ada@example.com' },
  { id: 'p-grace', userName: 'grace.hopper', displayName: 'Grace Brewster Hopper', email: 'grace@example.com' },
  { id: 'p-alan', userName: 'alan.turing', displayName: 'Alan Turing' },
  { id: 'p-gone', userName: 'gone.person', displayName: 'Gone Person', active: false },
];

export interface ProvisioningFixture {
  database: TestDatabase;
  secrets: EncryptedSecretStore;
  activities: ProvisioningActivities;
  /** Points the CRM app's connection secret at a SCIM target. */
  connect(target: Pick<ScimTarget, 'url' | 'token'>): Promise<void>;
}

export async function provisioningFixture(): Promise<ProvisioningFixture> {
  const database = await testDatabase('pglite');
  const secrets = new EncryptedSecretStore(database.db, randomBytes(32));
  const directory = new DirectoryRepository(database.db);
  await directory.seed(PEOPLE, []);
  const apps = new Map([CRM, WAREHOUSE, WIKI].map((a) => [a.id, a]));
  const activities = createProvisioningActivities({ apps: { app: (id) => apps.get(id) }, secrets, people: directory, db: database.db });
  return {
    database,
    secrets,
    activities,
    connect: (target) => secrets.put(CRM.connector.secretRef!, { baseUrl: target.url, token: target.token }),
  };
}

export const newTaskId = () => `task-${randomUUID()}`;

/**
 * The workflow's provisioning saga (workflows/task-workflow.ts `provision`): after each step push
 * its compensation; on failure run them last first. `afterGrant` stands for the steps that follow.
 */
export async function provisionSaga(
  acts: ProvisioningActivities,
  i: { taskId: string; appId: string; userId: string; entitlementId: string },
  afterGrant: () => Promise<void> = async () => {},
): Promise<{ ok: true; accountId: string; created: boolean; granted: boolean } | { ok: false; error: unknown }> {
  const compensations: (() => Promise<unknown>)[] = [];
  try {
    const account = await acts.provisionAccount({ taskId: i.taskId, appId: i.appId, userId: i.userId });
    if (account.created) compensations.unshift(() => acts.deactivateAccount({ taskId: i.taskId, appId: i.appId, accountId: account.accountId }));
    const granted = await acts.grantEntitlement({ ...i, accountId: account.accountId });
    if (granted.kind !== 'entitlement_already_present') {
      compensations.unshift(() => acts.revokeEntitlement({ ...i, accountId: account.accountId }));
    }
    await afterGrant();
    return { ok: true, accountId: account.accountId, created: account.created, granted: granted.kind !== 'entitlement_already_present' };
  } catch (error) {
    for (const undo of compensations) await undo();
    return { ok: false, error };
  }
}
