// The task workflow's decideCall activity over a real database: it plans and records a call the
// policy decides at once, leaves a call that waits for a person to the workflow, and a retry after
// an attempt that committed gets that attempt's decision and grant back, whatever the policy says now.
import { compilePolicy } from '../../src/policy/compile';
import type { Services } from '../../src/services';
import { testDatabase, type TestDatabase } from '../support/databases';
import { taskActivitiesOn, type TaskActivitiesWorld } from '../support/task-activities';

let database: TestDatabase;
let services: Services;
let activities: TaskActivitiesWorld['activities'];
let newTask: TaskActivitiesWorld['newTask'];

const PR = { repo: 'acme/api', title: 'Fix the build', head: 'fix-build' };
const call = (callId: string, toolId = 'github.create_pr', args: Record<string, unknown> = PR) => ({ callId, toolId, arguments: args, requestedAt: new Date().toISOString() });

beforeAll(async () => {
  database = await testDatabase('pglite');
  ({ services, activities, newTask } = await taskActivitiesOn(database.db));
});
afterAll(async () => {
  await services?.close();
  await database?.drop();
});

describe('decideCall', () => {
  it('records a grant the policy alone allows, with its grant row, in one go', async () => {
    const taskId = await newTask('dc-policy-only');
    const decided = await activities.decideCall({ taskId, call: call('c1'), inContext: false });
    expect(decided.result).toMatchObject({ callId: 'c1', decision: 'allow' });
    expect(decided.result).not.toHaveProperty('credentialRef');
    expect(decided.grant).toMatchObject({ toolId: 'github.create_pr', appId: 'github', via: 'policy' });
    expect((await services.tasks.grants(taskId)).map((g) => [g.toolId, g.via])).toEqual([['github.create_pr', 'policy']]);
    expect((await services.traces.findDecision(taskId, 'c1'))?.body).toMatchObject({ decision: 'allow', grantedVia: 'policy' });
  });

  it('records a refusal without a grant, and returns only the plan of a call that needs a person', async () => {
    const taskId = await newTask('dc-refused');
    const refused = await activities.decideCall({ taskId, call: call('c1', 'no.such_tool', {}), inContext: false });
    expect(refused.result).toMatchObject({ decision: 'deny', reason: { code: 'unknown_tool' } });
    expect(refused.grant).toBeUndefined();
    const escalated = await activities.decideCall({ taskId, call: call('c2', 'github.delete_branch', { repo: 'acme/api', branch: 'main' }), inContext: false });
    expect(escalated).toEqual({ plan: expect.objectContaining({ decision: 'escalate', needsApproval: true }) });
    expect(await services.traces.findDecision(taskId, 'c2')).toBeUndefined();
    expect(await services.tasks.grants(taskId)).toEqual([]);
  });

  it('answers a retry with the first attempt’s decision and grant though the policy now denies', async () => {
    const taskId = await newTask('dc-retry');
    const input = { taskId, call: call('c1'), inContext: false };
    const first = await activities.decideCall(input);
    expect(first.result?.decision).toBe('allow');
    const active = services.policy.active();
    const denyAll = compilePolicy({ ...active.bundle, rules: [], tests: [] });
    const spy = jest.spyOn(services.policy, 'active').mockReturnValue(denyAll);
    try {
      const retried = await activities.decideCall(input);
      expect(retried.plan.decision).toBe('deny');
      expect(retried.result).toEqual(first.result);
      expect(retried.grant).toEqual(first.grant);
      // A new call is decided by the policy of now.
      const next = await activities.decideCall({ taskId, call: call('c2'), inContext: false });
      expect(next.result).toMatchObject({ decision: 'deny', reason: { code: 'no_rule_allows' } });
      expect(next.grant).toBeUndefined();
    } finally {
      spy.mockRestore();
    }
    expect((await services.tasks.grants(taskId)).map((g) => g.toolId)).toEqual(['github.create_pr']);
  });
});

describe('commitDecision', () => {
  /** A held call the re-check at resume allowed, and the grant its approval brings. */
  const approvedHeld = async (taskId: string, callId: string) => {
    const held = call(callId);
    const plan = await activities.evaluateCall({ taskId, call: held, inContext: false, approved: true });
    expect(plan.decision).toBe('allow');
    return { taskId, call: held, outcome: plan, grant: { toolId: held.toolId, appId: 'github', grantedAt: held.requestedAt, via: 'approval' as const } };
  };

  it('records the allow the re-check reached when nothing changed since', async () => {
    const taskId = await newTask('cd-unchanged');
    expect(await activities.commitDecision(await approvedHeld(taskId, 'c1'))).toMatchObject({ decision: 'allow' });
    expect((await services.tasks.grants(taskId)).map((g) => g.toolId)).toEqual(['github.create_pr']);
  });

  it("records the policy's refusal of now when a change committed between the re-check and the record", async () => {
    const taskId = await newTask('cd-changed');
    const reached = await approvedHeld(taskId, 'c1');
    // A policy version (or a mover's new attributes) that no longer allows the call, meanwhile.
    const denyAll = compilePolicy({ ...services.policy.active().bundle, rules: [], tests: [] });
    const spy = jest.spyOn(services.policy, 'active').mockReturnValue(denyAll);
    try {
      // Before: allowed on the re-check's stale reading, with a grant.
      expect(await activities.commitDecision(reached)).toMatchObject({ decision: 'deny', reason: { code: 'no_rule_allows' } });
    } finally {
      spy.mockRestore();
    }
    expect(await services.tasks.grants(taskId)).toEqual([]);
    expect((await services.traces.findDecision(taskId, 'c1'))?.body).toMatchObject({ decision: 'deny', reasonCode: 'no_rule_allows' });
  });

  it('records a refusal for a task that ended meanwhile', async () => {
    const taskId = await newTask('cd-ended');
    const reached = await approvedHeld(taskId, 'c1');
    await database.db.query(`update tasks set status = 'revoked' where task_id = $1`, [taskId]);
    expect(await activities.commitDecision(reached)).toMatchObject({ decision: 'deny', reason: { code: 'task_not_active' } });
  });
});
