// Movers: after a person's directory attributes change (SCIM or HR), their live grants are decided
// again; those the policy now denies are revoked with a receipt, the others stay.
import { randomUUID } from 'node:crypto';
import { ApplicationFailure } from '@temporalio/common';
import { policyReevaluationWorkflow } from '../../workflows/offboarding-workflow';
import { startStack, TOKENS, type Stack } from '../support/stack';
import { eventually } from '../support/eventually';
import { call, createPerson, HR_ENV, patchOps, scim, signedHrEvent, taskWithGrants, TOOL_ARGS } from './people';

let stack: Stack;
beforeAll(async () => {
  stack = await startStack({ env: HR_ENV });
});
afterAll(async () => {
  await stack?.stop();
});

const liveTools = async (taskId: string) => ((await stack.request('GET', `/v1/tasks/${taskId}`)).body.context as { toolId: string }[]).map((c) => c.toolId).sort();
const moverReceipts = (taskId: string) =>
  stack.database.db.query<{ body: Record<string, unknown> }>(
    "select body from decision_traces where task_id = $1 and kind = 'revocation' and body->>'revocation' = 'mover_reevaluation' order by seq",
    [taskId],
  );

describe('movers', () => {
  it('revokes the grant a userType change (SCIM) makes the policy deny, and keeps the rest', async () => {
    const p = await createPerson(stack);
    const taskId = await taskWithGrants(stack, p.id, 'coding-agent', ['github.read_repo', 'github.create_pr']);

    // Reads are for active employees (allow-read-active-employees); GitHub writes for engineering.
    const res = await scim(stack, 'PATCH', `/Users/${p.id}`, patchOps({ op: 'replace', path: 'userType', value: 'Contractor' }));
    expect(res.status).toBe(200);
    expect(await liveTools(taskId)).toEqual(['github.create_pr']);
    const [receipt] = await moverReceipts(taskId);
    expect(receipt.body).toMatchObject({ userId: p.id, toolId: 'github.read_repo', appId: 'github', revocation: 'mover_reevaluation', reasonCode: 'no_rule_allows' });
    expect(receipt.body.snapshot).toMatchObject({ user: { userType: 'Contractor' } });
    const view = (await stack.request('GET', `/v1/tasks/${taskId}`)).body;
    expect(view.status).toBe('active');
    expect(view.revoked).toEqual([expect.objectContaining({ toolId: 'github.read_repo', status: 'revoked' })]);

    // The next call on the revoked tool goes to the workflow, which decides it with the new attributes.
    expect(await call(stack, taskId, 'github.read_repo')).toMatchObject({ decision: 'deny', reason: { code: 'no_rule_allows' } });
    expect(await call(stack, taskId, 'github.create_pr')).toMatchObject({ decision: 'allow' });
  });

  it('gives a tool a mover took away back only as a new grant when the change is undone', async () => {
    const p = await createPerson(stack);
    const taskId = await taskWithGrants(stack, p.id, 'coding-agent', ['github.read_repo', 'github.create_pr']);
    await scim(stack, 'PATCH', `/Users/${p.id}`, patchOps({ op: 'replace', path: 'userType', value: 'Contractor' }));
    expect(await liveTools(taskId)).toEqual(['github.create_pr']);
    await scim(stack, 'PATCH', `/Users/${p.id}`, patchOps({ op: 'replace', path: 'userType', value: 'Employee' }));

    // The workflow still held the tool in its context: it is granted again (its grant row live, the
    // record says how), not allowed as if in context with its grant revoked.
    const again = await stack.request('POST', `/v1/tasks/${taskId}/tool-calls`, { body: { callId: 'after-the-mover', toolId: 'github.read_repo', arguments: TOOL_ARGS['github.read_repo'] } });
    expect(again.body).toMatchObject({ decision: 'allow' });
    const [record] = await stack.database.db.query<{ body: Record<string, unknown> }>('select body from decision_traces where trace_id = $1', [again.body.traceId]);
    expect(record.body).toMatchObject({ toolId: 'github.read_repo', decision: 'allow', grantedVia: 'policy' });
    expect(await liveTools(taskId)).toEqual(['github.create_pr', 'github.read_repo']);
    const view = (await stack.request('GET', `/v1/tasks/${taskId}`)).body;
    expect(view.revoked).toEqual([]);

    // Once taken away again, the same holds: the context follows the grants.
    await scim(stack, 'PATCH', `/Users/${p.id}`, patchOps({ op: 'replace', path: 'userType', value: 'Contractor' }));
    expect(await call(stack, taskId, 'github.read_repo')).toMatchObject({ decision: 'deny', reason: { code: 'no_rule_allows' } });
    expect(await liveTools(taskId)).toEqual(['github.create_pr']);
  });

  it('revokes what leaving a group (HR employee.updated) takes away, with the department change recorded', async () => {
    const p = await createPerson(stack);
    const taskId = await taskWithGrants(stack, p.id, 'coding-agent', ['github.read_repo', 'github.create_pr', 'web.fetch']);
    const res = await signedHrEvent(stack, { type: 'employee.updated', data: { userId: p.id, department: 'Sales', groups: ['sales'] } });
    expect(res.status).toBe(202);
    expect(res.body).toEqual({ userId: p.id, revoked: [{ taskId, toolId: 'github.create_pr' }] });
    expect(await liveTools(taskId)).toEqual(['github.read_repo', 'web.fetch']);
    const receipts = await moverReceipts(taskId);
    expect(receipts).toHaveLength(1);
    expect(receipts[0].body).toMatchObject({ toolId: 'github.create_pr', cause: res.id, snapshot: { user: { department: 'Sales', groups: ['sales'] } } });
    expect(await call(stack, taskId, 'github.create_pr')).toMatchObject({ decision: 'deny' });
  });

  it('revokes nothing when the change leaves every grant allowed', async () => {
    const p = await createPerson(stack);
    const taskId = await taskWithGrants(stack, p.id, 'coding-agent', ['github.read_repo', 'github.create_pr']);
    const res = await scim(stack, 'PATCH', `/Users/${p.id}`, patchOps({ op: 'replace', path: 'title', value: 'Staff Engineer' }, { op: 'replace', path: 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department', value: 'Platform' }));
    expect(res.status).toBe(200);
    expect(await liveTools(taskId)).toEqual(['github.create_pr', 'github.read_repo']);
    expect(await moverReceipts(taskId)).toEqual([]);
  });

  it('re-evaluates the members a SCIM group change adds or removes', async () => {
    const p = await createPerson(stack);
    const taskId = await taskWithGrants(stack, p.id, 'coding-agent', ['github.create_pr']);
    const res = await scim(stack, 'PATCH', '/Groups/engineering', patchOps({ op: 'remove', path: `members[value eq "${p.id}"]` }));
    expect(res.status).toBe(200);
    expect(await liveTools(taskId)).toEqual([]);
    expect(await moverReceipts(taskId)).toHaveLength(1);
  });

  it('re-evaluates every person holding live grants, a page at a time, when a policy version is activated', async () => {
    const people = [await createPerson(stack), await createPerson(stack), await createPerson(stack)];
    const taskIds = [];
    for (const p of people) taskIds.push(await taskWithGrants(stack, p.id, 'coding-agent', ['github.read_repo']));
    // They change under the policy without a move (as a new version's rules would change what they may do).
    await stack.database.db.query("update users set user_type = 'Contractor' where id = any($1::text[])", [people.map((p) => p.id)]);
    const { version } = (await stack.request('GET', '/v1/policy', { token: TOKENS.admin })).body;
    const workflowId = `reevaluation-${randomUUID()}`;
    const handle = await stack.client.workflow.start(policyReevaluationWorkflow, { workflowId, taskQueue: stack.services.config.temporal.taskQueue, args: [{ version, pageSize: 2 }] });
    await handle.result();
    for (const taskId of taskIds) {
      expect(await liveTools(taskId)).toEqual([]);
      expect(await moverReceipts(taskId)).toEqual([expect.objectContaining({ body: expect.objectContaining({ toolId: 'github.read_repo', cause: `policy:${version}` }) })]);
    }
    // Pages of two: the first run continued as new.
    const first = await stack.client.workflow.getHandle(workflowId, handle.firstExecutionRunId).fetchHistory();
    expect(first.events?.some((e) => e.workflowExecutionContinuedAsNewEventAttributes)).toBe(true);
  });

  it('lets another fan-out re-evaluate a person it is already re-evaluating, and fails naming a person whose re-evaluation failed, after the rest', async () => {
    const [busy, refused, plain] = [await createPerson(stack), await createPerson(stack), await createPerson(stack)];
    const taskOf: Record<string, string> = {};
    for (const p of [busy, refused, plain]) taskOf[p.id] = await taskWithGrants(stack, p.id, 'coding-agent', ['github.read_repo']);
    await stack.database.db.query("update users set user_type = 'Contractor' where id = any($1::text[])", [[busy.id, refused.id, plain.id]]);
    const { version } = (await stack.request('GET', '/v1/policy', { token: TOKENS.admin })).body;
    const queue = stack.services.config.temporal.taskQueue;
    // busy: a re-evaluation of this version under the same id is running (queued where no worker polls).
    const other = await stack.client.workflow.start('moverWorkflow', { workflowId: `mover-${busy.id}-policy-${version}`, taskQueue: `nobody-${randomUUID()}`, args: [{ userId: busy.id, cause: 'test' }] });
    // refused: the projection refuses to revoke their grant, so their re-evaluation retries until it is terminated.
    await stack.database.db.query("create function refuse_in_test() returns trigger language plpgsql as $$ begin raise exception 'refused in test'; end $$");
    await stack.database.db.query(`create trigger refuse_in_test before update on grants for each row when (new.task_id = '${taskOf[refused.id]}') execute function refuse_in_test()`);
    try {
      const handle = await stack.client.workflow.start(policyReevaluationWorkflow, { workflowId: `reevaluation-${randomUUID()}`, taskQueue: queue, args: [{ version, pageSize: 2 }] });
      const child = stack.client.workflow.getHandle(`mover-${refused.id}-policy-${version}`);
      await eventually(async () => ((await child.describe().catch(() => undefined))?.raw.pendingActivities?.[0]?.attempt ?? 0) > 1, 'a retried re-evaluation', 30_000);
      await child.terminate('test: a re-evaluation that cannot finish');
      const failure = await handle.result().then(
        () => undefined,
        (err: { cause?: ApplicationFailure }) => err.cause,
      );
      expect(failure).toBeInstanceOf(ApplicationFailure);
      expect(failure).toMatchObject({ type: 'ReevaluationIncomplete', details: [{ failed: [refused.id] }] });
      expect(failure!.message).toContain(refused.id);
      // Every page ran: the person after the failed one was re-evaluated; the busy one was left to the other run.
      expect(await liveTools(taskOf[plain.id])).toEqual([]);
      expect(await liveTools(taskOf[refused.id])).toEqual(['github.read_repo']);
      expect(await liveTools(taskOf[busy.id])).toEqual(['github.read_repo']);
    } finally {
      await stack.database.db.query('drop trigger refuse_in_test on grants');
      await stack.database.db.query('drop function refuse_in_test()');
      await other.terminate('test over');
    }
  });
});
