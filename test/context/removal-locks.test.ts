// The task activities that decide a task's removals in an app with person accounts (crm, SCIM),
// over a real database: they hold the person's lock there until the decided removals are done, an
// end waits for another task's saga under way there, and a mover's release keeps, for now, the
// entitlement such a saga has looked at instead of waiting (two releasing tasks could wait on each
// other's decisions).
import { taskBuildingOn } from '../../activities/hand-over';
import { ProvisioningIntents } from '../../activities/provisioning/intents';
import { PersonAppLocks } from '../../activities/provisioning/person-app-locks';
import { ENGINES, testDatabase, type TestDatabase } from '../support/databases';
import { taskActivitiesOn, type TaskActivitiesWorld } from '../support/task-activities';

describe.each(ENGINES)('removal locks on %s', (engine) => {
  let database: TestDatabase;
  let world: TaskActivitiesWorld;
  let locks: PersonAppLocks;
  let intents: ProvisioningIntents;

  beforeAll(async () => {
    database = await testDatabase(engine);
    world = await taskActivitiesOn(database.db);
    locks = new PersonAppLocks(database.db);
    intents = new ProvisioningIntents(database.db);
  });
  afterAll(async () => {
    await world?.services.close();
    await database?.drop();
  });

  let n = 0;
  /** A task of the person; `crm`: with a crm-user membership (and account) JIT provisioned for it and no grant needing it. */
  const newTask = async (userId: string, crm = false) => {
    const taskId = await world.newTask(`rl-${engine}-${++n}`, userId);
    if (crm) await world.activities.recordProvisioning({ taskId, appId: 'crm', entitlementId: 'crm-user', accountId: `acct-${userId}`, accountCreated: true, entitlementGranted: true, changes: [] });
    return taskId;
  };
  /** Another task's saga has looked at the person's crm `step` for its call and has no decision yet. */
  const sagaLooked = async (userId: string, step: string) => {
    const taskId = await newTask(userId);
    await intents.record({ taskId, appId: 'crm', step: `${step}#call-1` }, true, `acct-${userId}`);
    return { taskId, decide: () => world.services.traces.append({ kind: 'decision', body: { taskId, callId: 'call-1', decision: 'allow' } }) };
  };
  /** Whether a provisioning step could change the person's crm access now (it lets go at once). */
  const stepCouldRun = async (userId: string) => {
    const got = await locks.take('crm', userId, 'probe', 'step', 60);
    if (got) await locks.release('crm', userId, 'probe');
    return got;
  };
  const END = { status: 'ended' as const, reason: 'ended_by_gateway', by: 'gateway' };
  const CRM_USER = { appId: 'crm', entitlementId: 'crm-user' };

  it("ends a task only after another task's saga under way in the app got its decision, then holds the app until its removals there are done", async () => {
    const ending = await newTask('ivy', true);
    const saga = await sagaLooked('ivy', 'account');

    await expect(world.activities.markCollapsed({ taskId: ending, ...END })).rejects.toMatchObject({ type: 'AccessBusy' });
    // The revocation mark is written all the same: the task's calls are denied from now on.
    expect((await world.services.tasks.get(ending))?.status).toBe('ended');
    // Not held while it waits: the saga's next step can run.
    expect(await stepCouldRun('ivy')).toBe(true);

    await saga.decide();
    const { provisioned } = await world.activities.markCollapsed({ taskId: ending, ...END });
    expect(provisioned).toEqual([expect.objectContaining({ ...CRM_USER, accountCreated: true })]);
    expect(await stepCouldRun('ivy')).toBe(false);
    await world.activities.recordDeprovisioned({ taskId: ending, ...CRM_USER, changes: [] });
    expect(await stepCouldRun('ivy')).toBe(true);
  });

  it('does not decide while a provisioning step holds the app', async () => {
    const ending = await newTask('jon', true);
    expect(await locks.take('crm', 'jon', 'a-step', 'step', 60)).toBe(true);
    await expect(world.activities.markCollapsed({ taskId: ending, ...END })).rejects.toMatchObject({ type: 'AccessBusy' });
    await locks.release('crm', 'jon', 'a-step');
    expect((await world.activities.markCollapsed({ taskId: ending, ...END })).provisioned).toHaveLength(1);
    await world.activities.finishCollapse({ taskId: ending, ...END });
    // The end lets go of everything, decided removals or not.
    expect(await stepCouldRun('jon')).toBe(true);
  });

  it("keeps, for now, unneeded access another task's saga under way has looked at, without holding the app", async () => {
    const releasing = await newTask('kim', true);
    const saga = await sagaLooked('kim', 'entitlement:crm-user');

    expect(await world.activities.unneededAccess({ taskId: releasing })).toEqual([]);
    expect(await stepCouldRun('kim')).toBe(true);
    // A saga that looked only at the account does not keep the membership.
    await saga.decide();
    await sagaLooked('kim', 'account');
    expect(await world.activities.unneededAccess({ taskId: releasing })).toEqual([expect.objectContaining(CRM_USER)]);
    expect(await stepCouldRun('kim')).toBe(false);
    await world.activities.recordReleased({ taskId: releasing, ...CRM_USER, changes: [] });
    expect(await stepCouldRun('kim')).toBe(true);
  });

  it('names the task building on the account a failed saga created: by its record of that account, or by its saga under way in the app', async () => {
    const failing = await newTask('lea');
    const deps = { provisioned: world.services.provisioned, policy: world.services.policy, locks };
    const buildingOn = (accountId: string) => taskBuildingOn(deps, { taskId: failing, userId: 'lea', appId: 'crm', accountId });
    expect(await buildingOn('acct-lea')).toBeUndefined();
    const holder = await newTask('lea', true); // its record names acct-lea
    expect([await buildingOn('acct-lea'), await buildingOn('acct-other')]).toEqual([holder, undefined]);
    await world.activities.finishCollapse({ taskId: holder, ...END });
    expect(await buildingOn('acct-lea')).toBeUndefined();

    const saga = await sagaLooked('lea', 'account');
    expect(await buildingOn('acct-lea')).toBe(saga.taskId);
    await saga.decide();
    expect(await buildingOn('acct-lea')).toBeUndefined();
  });
});
