// recordProvisioning over a real database: two sagas of one task for the same access (two calls of
// the tool, approved at once) record what each did, whichever records first.
import { ENGINES, testDatabase, type TestDatabase } from '../support/databases';
import { taskActivitiesOn, type TaskActivitiesWorld } from '../support/task-activities';

describe.each(ENGINES)('recordProvisioning on %s', (engine) => {
  let database: TestDatabase;
  let world: TaskActivitiesWorld;
  beforeAll(async () => {
    database = await testDatabase(engine);
    world = await taskActivitiesOn(database.db);
  });
  afterAll(async () => {
    await world?.services.close();
    await database?.drop();
  });

  const CRM_USER = { appId: 'crm', entitlementId: 'crm-user', accountId: 'acct-1', changes: [] };

  it('keeps the account a slower saga created when a faster one, which found it, recorded first', async () => {
    const taskId = await world.newTask(`rp-${engine}-1`);
    // The faster saga found the account and added the membership; the slower one had created the account.
    await world.activities.recordProvisioning({ taskId, ...CRM_USER, accountCreated: false, entitlementGranted: true });
    await world.activities.recordProvisioning({ taskId, ...CRM_USER, accountCreated: true, entitlementGranted: false });
    // Before: the second record was taken for a retry of the first, and the task's end left the account active.
    expect(await world.services.provisioned.one(taskId, 'crm', 'crm-user')).toMatchObject({ accountCreated: true, entitlementGranted: true });
  });

  it('answers a retry of the same record without a second grant trace', async () => {
    const taskId = await world.newTask(`rp-${engine}-2`);
    const record = { taskId, ...CRM_USER, accountCreated: true, entitlementGranted: true };
    await world.activities.recordProvisioning(record);
    await world.activities.recordProvisioning(record);
    expect((await world.services.traces.query({ filter: `taskId eq "${taskId}" and kind eq "grant"` })).totalResults).toBe(1);
  });
});
