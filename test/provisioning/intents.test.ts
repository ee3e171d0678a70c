// The provisioning journal on both engines: the first attempt's record wins and only ever moves
// from "held before the task" to "added by the task".
import { randomUUID } from 'node:crypto';
import { ProvisioningIntents, type StepKey } from '../../activities/provisioning/intents';
import { ENGINES, testDatabase, type TestDatabase } from '../support/databases';

describe.each(ENGINES)('provisioning journal on %s', (engine) => {
  let database: TestDatabase;
  let intents: ProvisioningIntents;
  const key = (step = 'account'): StepKey => ({ taskId: `task-${randomUUID()}`, appId: 'crm', step });

  beforeAll(async () => {
    database = await testDatabase(engine);
    intents = new ProvisioningIntents(database.db);
  });
  afterAll(async () => {
    await database.drop();
  });

  it('keeps what the first attempt recorded when a racing attempt records otherwise', async () => {
    const k = key();
    expect(await intents.record(k, false)).toEqual({ preExisting: false, accountId: undefined });
    expect(await intents.record(k, true, 'u-1')).toEqual({ preExisting: false, accountId: undefined });
  });

  it('moves from held-before to added-by-the-task, never back, and fills in the account', async () => {
    const k = key();
    await intents.record(k, true, 'u-1');
    const now = () => intents.record(k, true);
    await intents.settle(k, false, 'u-1');
    expect(await now()).toEqual({ preExisting: true, accountId: 'u-1' });
    await intents.settle(k, true, 'u-2');
    expect(await now()).toEqual({ preExisting: false, accountId: 'u-2' });
    await intents.settle(k, false);
    expect(await now()).toEqual({ preExisting: false, accountId: 'u-2' });
  });

  it('reads a step across sagas and remembers that an undo began', async () => {
    const base = key('entitlement:crm');
    await intents.record(base, false, 'u-1');
    await intents.record({ ...base, step: 'entitlement:crm#call-2' }, true, 'u-1');
    await intents.record({ ...base, step: 'entitlement:crm-admin' }, false, 'u-1');

    const before = await intents.undoState(base);
    expect(before.intents.map((i) => i.preExisting).sort()).toEqual([false, true]);
    expect(before.undoneEarlier).toBe(false);
    await intents.markUndo(base);
    expect((await intents.undoState(base)).undoneEarlier).toBe(true);
    expect((await intents.undoState({ ...base, step: 'entitlement:crm-admin' })).undoneEarlier).toBe(false);
  });
});
