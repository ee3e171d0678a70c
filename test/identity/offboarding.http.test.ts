// The offboarding drill over HTTP against the whole stack, for each trigger (HR event, SCIM PATCH
// active=false, SCIM DELETE): a manager with running tasks holding grants, a pending approval on
// a report's task that only they can answer, and an agent they own.
import type { TraceRecord } from '../../src/audit/trace-types';
import { startStack, type Stack } from '../support/stack';
import { eventually } from '../support/eventually';
import { call, createAgent, createPerson, HR_ENV, patchOps, scim, signedHrEvent, startTask, taskWithGrants } from './people';

let stack: Stack;
beforeAll(async () => {
  stack = await startStack({ env: HR_ENV });
});
afterAll(async () => {
  await stack?.stop();
});

const TOOLS = ['github.read_repo', 'github.create_pr', 'web.fetch'];

interface Drill {
  leaver: string;
  report: string;
  agentId: string;
  tasks: string[];
  pending: { taskId: string; callId: string; approvalId: string };
}

async function setUp(taskCount = 3): Promise<Drill> {
  const leaver = (await createPerson(stack)).id;
  const report = (await createPerson(stack, { manager: leaver })).id;
  const agentId = await createAgent(stack, leaver);
  const tasks: string[] = [];
  for (let i = 0; i < taskCount; i++) tasks.push(await taskWithGrants(stack, leaver, i % 2 ? 'coding-agent' : agentId, TOOLS));
  // A destructive call on the report's task escalates to their manager: the leaver.
  const reportTask = await startTask(stack, report, 'coding-agent');
  const held = await call(stack, reportTask, 'github.delete_branch');
  expect(held).toMatchObject({ status: 202, decision: 'pending' });
  await eventually(async () => {
    const [row] = await stack.database.db.query<{ approver_ids: string[] }>('select approver_ids from approvals where approval_id = $1', [held.approvalId]);
    return row?.approver_ids.includes(leaver);
  }, 'the approval to reach the leaver');
  return { leaver, report, agentId, tasks, pending: { taskId: reportTask, callId: held.callId, approvalId: held.approvalId! } };
}

const TRIGGERS = {
  async hr(d: Drill) {
    const res = await signedHrEvent(stack, { type: 'employee.offboarded', data: { userId: d.leaver } });
    expect(res.status).toBe(202);
    return res.body.offboardingId as string;
  },
  async scim_patch(d: Drill) {
    const res = await scim(stack, 'PATCH', `/Users/${d.leaver}`, patchOps({ op: 'replace', value: { active: false } }));
    expect(res.status).toBe(200);
    expect(res.body.active).toBe(false);
    return latestOffboarding(d.leaver);
  },
  async scim_delete(d: Drill) {
    const res = await scim(stack, 'DELETE', `/Users/${d.leaver}`);
    expect(res.status).toBe(204);
    return latestOffboarding(d.leaver);
  },
};

async function latestOffboarding(userId: string): Promise<string> {
  const [row] = await stack.database.db.query<{ offboarding_id: string }>('select offboarding_id from offboardings where user_id = $1 order by requested_at desc limit 1', [userId]);
  return row.offboarding_id;
}

async function summaryOf(offboardingId: string): Promise<TraceRecord> {
  const id = await eventually(
    async () => (await stack.database.db.query<{ summary_trace_id: string | null }>('select summary_trace_id from offboardings where offboarding_id = $1', [offboardingId]))[0]?.summary_trace_id ?? undefined,
    `offboarding ${offboardingId} to finish`,
    60_000,
  );
  return (await stack.services.traces.get(id))!;
}

/** Every new call of theirs is denied — answered from the projection, no worker needed. */
async function expectDenied(d: Drill) {
  for (const taskId of d.tasks) {
    const r = await call(stack, taskId, 'github.read_repo');
    expect(r.decision).toBe('deny');
    expect(['user_inactive', 'task_not_active']).toContain(r.reason?.code);
  }
  const fresh = await stack.request('POST', '/v1/tasks', { body: { userId: d.leaver, agentId: 'coding-agent' } });
  expect(fresh.status).toBe(422);
  expect(fresh.body.code).toBe('user_inactive');
}

async function expectOffboarded(d: Drill, offboardingId: string, by: string) {
  const summary = await summaryOf(offboardingId);
  expect(summary).toMatchObject({ kind: 'offboarding', body: { userId: d.leaver, offboardingId, by, unfinished: [], agentsOrphaned: [d.agentId] } });
  expect(summary.body.approvalsMoved).toEqual([{ approvalId: d.pending.approvalId, taskId: d.pending.taskId }]);
  expect((summary.body.tasks as { taskId: string }[]).map((t) => t.taskId).sort()).toEqual([...d.tasks].sort());

  for (const taskId of d.tasks) {
    const view = await stack.request('GET', `/v1/tasks/${taskId}`);
    expect(view.body).toMatchObject({ status: 'revoked', context: [] });
    expect(view.body.revoked.map((g: { toolId: string }) => g.toolId).sort()).toEqual([...TOOLS].sort());
    const receipts = await stack.database.db.query<{ body: Record<string, unknown> }>("select body from decision_traces where task_id = $1 and kind = 'revocation'", [taskId]);
    expect(receipts.map((r) => r.body.toolId).sort()).toEqual([...TOOLS].sort());
    expect(receipts.every((r) => r.body.endedBecause === 'offboarded' && r.body.endedBy === by)).toBe(true);
    const [perTask] = await stack.database.db.query<{ body: Record<string, unknown> }>("select body from decision_traces where task_id = $1 and kind = 'offboarding'", [taskId]);
    expect(perTask.body).toMatchObject({ offboardingId, userId: d.leaver, status: 'revoked', revoked: expect.arrayContaining(TOOLS) });
    expect(perTask.body.receipts).toHaveLength(TOOLS.length);
  }

  // Their agent is orphaned: denied for anyone until an active owner is set.
  expect(await stack.services.directory.agent(d.agentId)).toMatchObject({ orphaned: true, active: false });
  const viaOrphan = await stack.request('POST', '/v1/tasks', { body: { userId: 'alice', agentId: d.agentId } });
  expect(viaOrphan.body.code).toBe('agent_inactive');
  const adopted = await scim(stack, 'PATCH', `/Agents/${d.agentId}`, patchOps({ op: 'replace', path: 'owners', value: [{ value: 'alice' }] }));
  expect(adopted.body['urn:agent-access:scim:schemas:extension:governance:2.0:Agent']).toEqual({ orphaned: false });
  expect(await stack.services.directory.agent(d.agentId)).toMatchObject({ owner: 'alice', active: true });

  // The report's held call no longer waits for them: their step moved on (the manager route has no next step).
  const approval = await eventually(async () => {
    const [row] = await stack.database.db.query<{ status: string }>('select status from approvals where approval_id = $1', [d.pending.approvalId]);
    return row.status !== 'pending' && row;
  }, 'the leaver\'s approval step to time out', 30_000);
  expect(approval.status).toBe('timed_out');
  const outcome = await stack.request('GET', `/v1/tasks/${d.pending.taskId}/tool-calls/${d.pending.callId}`);
  expect(outcome.body).toMatchObject({ decision: 'deny', reason: { code: 'approval_timed_out' } });
  // The report's task itself goes on.
  expect((await stack.request('GET', `/v1/tasks/${d.pending.taskId}`)).body.status).toBe('active');
}

describe('offboarding', () => {
  it.each([
    ['an HR employee.offboarded event', 'hr', 'hr'],
    ['a SCIM PATCH active=false', 'scim_patch', 'scim'],
    ['a SCIM DELETE', 'scim_delete', 'scim'],
  ] as const)('revokes everything the person delegated after %s', async (_name, trigger, by) => {
    const d = await setUp();
    const offboardingId = await TRIGGERS[trigger](d);
    expect(offboardingId).toMatch(new RegExp(`^offboarding-${d.leaver}-`));
    await expectDenied(d);
    await expectOffboarded(d, offboardingId, by);
  }, 120_000);

  it('finishes the fan-out when the worker dies after the 202 and another one starts', async () => {
    const d = await setUp(4);
    const res = await signedHrEvent(stack, { type: 'employee.offboarded', data: { userId: d.leaver } });
    expect(res.status).toBe(202);
    await stack.stopWorker();
    try {
      await expectDenied(d);
    } finally {
      await stack.startWorker();
    }
    await expectOffboarded(d, res.body.offboardingId, 'hr');
  }, 120_000);

  it('starts one workflow per person and event, however often the trigger repeats', async () => {
    const p = await createPerson(stack);
    const first = await signedHrEvent(stack, { type: 'employee.offboarded', data: { userId: p.id } });
    await summaryOf(first.body.offboardingId);
    // The IdP catches up afterwards: the person is already inactive, so nothing starts again.
    const patched = await scim(stack, 'PATCH', `/Users/${p.id}`, patchOps({ op: 'replace', path: 'active', value: 'False' }));
    expect(patched.status).toBe(200);
    const rows = await stack.database.db.query('select 1 from offboardings where user_id = $1', [p.id]);
    expect(rows).toHaveLength(1);
    const runs = [];
    for await (const wf of stack.client.workflow.list({ query: `WorkflowId = '${first.body.offboardingId}'` })) runs.push(wf);
    expect(runs.length).toBeLessThanOrEqual(1);
  });
});
