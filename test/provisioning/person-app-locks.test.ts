// The person's lock in an app, on both engines: one holder at a time, a lease that expires, and the
// sagas under way that a removal must wait for.
import type { ProvisioningActivities } from '../../activities/provisioning/activities';
import { change } from '../../activities/provisioning/connector';
import { PersonAppLocks, REMOVAL_LEASE_SECONDS, serializedPerPerson, type LockKind } from '../../activities/provisioning/person-app-locks';
import { handStepsOver, ProvisioningIntents } from '../../activities/provisioning/intents';
import { TraceStore } from '../../src/audit/trace-store';
import { TaskRepository } from '../../src/tasks/task-repository';
import { ENGINES, testDatabase, type TestDatabase } from '../support/databases';

describe.each(ENGINES)('person app locks on %s', (engine) => {
  let database: TestDatabase;
  let locks: PersonAppLocks;
  let tasks: TaskRepository;

  beforeAll(async () => {
    database = await testDatabase(engine);
    locks = new PersonAppLocks(database.db);
    tasks = new TaskRepository(database.db);
  });
  afterAll(async () => {
    await database?.drop();
  });

  /** Seconds left on the person's lease in crm. */
  const leaseLeft = async (userId: string) =>
    (await database.db.query<{ left: number }>("select extract(epoch from expires_at - now())::float8 as left from person_app_locks where app_id = 'crm' and user_id = $1", [userId]))[0]?.left;

  const task = async (taskId: string, userId: string) => {
    const now = new Date();
    await tasks.create({ taskId, tenant: 'default', userId, agentId: 'agent-1', workflowId: `task-${taskId}`, createdAt: now.toISOString(), expiresAt: new Date(+now + 3_600_000).toISOString() });
  };

  it('has one holder at a time, per person and app; the holder takes it again; a release lets the next in', async () => {
    expect(await locks.take('crm', 'alice', 'task-a', 'step', 60)).toBe(true);
    expect(await locks.take('crm', 'alice', 'task-b', 'step', 60)).toBe(false);
    expect(await locks.take('crm', 'alice', 'task-a', 'step', 60)).toBe(true);
    // Another person, another app: not held.
    expect(await locks.take('crm', 'bob', 'task-b', 'step', 60)).toBe(true);
    expect(await locks.take('wiki', 'alice', 'task-b', 'step', 60)).toBe(true);
    // Only its holder releases it.
    await locks.release('crm', 'alice', 'task-b');
    expect(await locks.take('crm', 'alice', 'task-b', 'step', 60)).toBe(false);
    await locks.release('crm', 'alice', 'task-a');
    expect(await locks.take('crm', 'alice', 'task-b', 'step', 60)).toBe(true);
    await locks.releaseAll('task-b');
    expect(await locks.take('crm', 'bob', 'task-c', 'step', 60)).toBe(true);
    expect(await locks.take('wiki', 'alice', 'task-c', 'step', 60)).toBe(true);
    await locks.releaseAll('task-c');
  });

  it('lets removals share it, but no step beside a removal and no removal beside a step', async () => {
    /** Each holder tries to take dan's wiki lock in turn: whether it got it. */
    const takes = async (...tries: [string, LockKind][]) => {
      const got: boolean[] = [];
      for (const [holder, kind] of tries) got.push(await locks.take('wiki', 'dan', holder, kind, 60));
      return got;
    };
    expect(await takes(['task-1', 'removal'], ['task-2', 'removal'], ['step-1', 'step'])).toEqual([true, true, false]);
    await locks.release('wiki', 'dan', 'task-1');
    expect(await takes(['step-1', 'step'])).toEqual([false]);
    await locks.releaseAll('task-2');
    expect(await takes(['step-1', 'step'], ['task-3', 'removal'], ['step-2', 'step'])).toEqual([true, false, false]);
    await locks.release('wiki', 'dan', 'step-1');
    expect(await takes(['task-3', 'removal'])).toEqual([true]);
    await locks.releaseAll('task-3');
    expect(await database.db.query(`select * from person_app_locks where user_id = 'dan'`)).toEqual([]);
  });

  it('stops blocking when the lease of a holder that never released it expires', async () => {
    expect(await locks.take('crm', 'carol', 'dead-holder', 'step', 0.2)).toBe(true);
    expect(await locks.take('crm', 'carol', 'task-d', 'step', 60)).toBe(false);
    await new Promise((r) => setTimeout(r, 300));
    expect(await locks.take('crm', 'carol', 'task-d', 'step', 60)).toBe(true);
    await locks.releaseAll('task-d');
  });

  it("renews a removal holder's lease, and only that holder's", async () => {
    expect(await locks.take('crm', 'gina', 'task-g', 'removal', 0.2)).toBe(true);
    await locks.renew('crm', 'gina', 'someone-else', 600);
    expect(await leaseLeft('gina')).toBeLessThan(1);
    await locks.renew('crm', 'gina', 'task-g', 600);
    expect(await leaseLeft('gina')).toBeGreaterThan(590);
    await new Promise((r) => setTimeout(r, 300));
    expect(await locks.take('crm', 'gina', 'step-g', 'step', 60)).toBe(false);
    await locks.releaseAll('task-g');
    // A step's hold is not a removal's: not renewed.
    expect(await locks.take('crm', 'gina', 'step-g', 'step', 0.2)).toBe(true);
    await locks.renew('crm', 'gina', 'step-g', 600);
    expect(await leaseLeft('gina')).toBeLessThan(1);
    await locks.releaseAll('step-g');
  });

  it("renews the removing task's hold at each attempt of a removal, in an app with person accounts", async () => {
    const done: string[] = [];
    const acts = {
      revokeEntitlement: async () => (done.push('revoke'), change('entitlement_revoked', 'crm')),
      deactivateAccount: async () => (done.push('deactivate'), change('account_deactivated', 'crm')),
    } as unknown as ProvisioningActivities;
    const wrapped = serializedPerPerson(acts, locks, { personOf: async () => 'hana', personal: (appId) => appId === 'crm' });
    expect(await locks.take('crm', 'hana', 'task-h', 'removal', 1)).toBe(true);
    await wrapped.revokeEntitlement({ taskId: 'task-h', appId: 'crm', accountId: 'acc', entitlementId: 'crm-user' });
    expect(await leaseLeft('hana')).toBeGreaterThan(REMOVAL_LEASE_SECONDS - 10);
    await database.db.query("update person_app_locks set expires_at = now() + interval '1 second' where app_id = 'crm' and user_id = 'hana'");
    await wrapped.deactivateAccount({ taskId: 'task-h', appId: 'crm', accountId: 'acc' });
    expect(await leaseLeft('hana')).toBeGreaterThan(REMOVAL_LEASE_SECONDS - 10);
    expect(done).toEqual(['revoke', 'deactivate']);
    await locks.releaseAll('task-h');
  });

  it("runs a step under the lock, waiting for the holder's release", async () => {
    expect(await locks.take('crm', 'erin', 'removal', 'removal', 60)).toBe(true);
    const order: string[] = [];
    const step = locks.during('crm', 'erin', async () => order.push('step'));
    await new Promise((r) => setTimeout(r, 200));
    order.push('released');
    await locks.release('crm', 'erin', 'removal');
    await step;
    expect(order).toEqual(['released', 'step']);
    // The step released it in turn.
    expect(await locks.take('crm', 'erin', 'next', 'step', 60)).toBe(true);
  });

  it("names another active task of the person whose saga in the app has looked at the target and has no decision yet", async () => {
    const intents = new ProvisioningIntents(database.db);
    const traces = new TraceStore(database.db, 'default');
    await task('t-ending', 'frank');
    await task('t-saga', 'frank');
    const underWay = (userId: string, exceptTaskId: string, appId: string) => locks.stepsUnderWay(userId, exceptTaskId, appId);
    expect(await underWay('frank', 't-ending', 'wiki')).toEqual([]);

    await intents.record({ taskId: 't-saga', appId: 'wiki', step: 'account#call-1' }, true, 'acct-1');
    expect(await underWay('frank', 't-ending', 'wiki')).toEqual([{ taskId: 't-saga', step: 'account' }]);
    // Not for the saga's own task, another app or another person.
    expect(await underWay('frank', 't-saga', 'wiki')).toEqual([]);
    expect(await underWay('frank', 't-ending', 'crm')).toEqual([]);
    expect(await underWay('grace', 't-ending', 'wiki')).toEqual([]);

    // Its call decided: no longer under way.
    await traces.append({ kind: 'decision', body: { taskId: 't-saga', callId: 'call-1', decision: 'allow' } });
    expect(await underWay('frank', 't-ending', 'wiki')).toEqual([]);

    // Another saga of it, then its task ended: an ended task's saga is its own collapse's to undo.
    await intents.record({ taskId: 't-saga', appId: 'wiki', step: 'entitlement:wiki-editor#call-2' }, false, 'acct-1');
    expect(await underWay('frank', 't-ending', 'wiki')).toEqual([{ taskId: 't-saga', step: 'entitlement:wiki-editor' }]);
    await database.db.query(`update tasks set status = 'ended' where task_id = 't-saga'`);
    expect(await underWay('frank', 't-ending', 'wiki')).toEqual([]);

    // Rows handed over from another task name that task's saga, whose decision is the giver's: none under way.
    await task('t-giver', 'frank');
    await task('t-receiver', 'frank');
    await intents.record({ taskId: 't-giver', appId: 'wiki', step: 'account#call-9' }, false, 'acct-1');
    await traces.append({ kind: 'decision', body: { taskId: 't-giver', callId: 'call-9', decision: 'allow' } });
    await database.db.transaction((tx) => handStepsOver(tx, { taskId: 't-giver', appId: 'wiki', step: 'account' }, 't-receiver'));
    expect(await underWay('frank', 't-ending', 'wiki')).toEqual([]);

    // A saga of an active task that looked 16 minutes ago and never got a decision: a stopped task, not one under way.
    await task('t-stopped', 'frank');
    await intents.record({ taskId: 't-stopped', appId: 'wiki', step: 'account#call-3' }, true, 'acct-1');
    expect(await underWay('frank', 't-ending', 'wiki')).toEqual([{ taskId: 't-stopped', step: 'account' }]);
    await database.db.query(`update provisioning_intents set created_at = now() - interval '16 minutes' where task_id = 't-stopped'`);
    expect(await underWay('frank', 't-ending', 'wiki')).toEqual([]);
  });

  it('keeps a removing task\'s hold in an app until the last removal it decided there is done', async () => {
    const stepGets = () => locks.take('wiki', 'gina', 'step-probe', 'step', 60);
    expect(await locks.take('wiki', 'gina', 't-1', 'removal', 60)).toBe(true);
    expect(await locks.take('crm', 'gina', 't-1', 'removal', 60)).toBe(true);
    // Two removals in the wiki, none in crm: crm's hold goes at once.
    await locks.decided('t-1', 'gina', ['wiki', 'crm'], [
      { appId: 'wiki', entitlementId: 'wiki-reader' },
      { appId: 'wiki', entitlementId: 'wiki-editor' },
    ]);
    expect(await locks.take('crm', 'gina', 'step-crm', 'step', 60)).toBe(true);
    expect(await stepGets()).toBe(false);
    await locks.removed('t-1', 'gina', 'wiki', 'wiki-reader');
    expect(await stepGets()).toBe(false);
    await locks.removed('t-1', 'gina', 'wiki', 'wiki-editor');
    expect(await locks.take('wiki', 'gina', 'step-wiki', 'step', 60)).toBe(true);
    // The end of a task lets go of everything.
    await locks.releaseAll('step-wiki');
    await locks.take('wiki', 'gina', 't-2', 'removal', 60);
    await locks.decided('t-2', 'gina', ['wiki'], [{ appId: 'wiki', entitlementId: 'wiki-reader' }]);
    await locks.over('t-2');
    expect(await database.db.query(`select * from person_app_removals where task_id = 't-2'`)).toEqual([]);
    expect(await locks.take('wiki', 'gina', 'step-wiki', 'step', 60)).toBe(true);
  });
});
