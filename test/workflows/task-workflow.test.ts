// The task workflow on the real Temporal dev server, with a real worker and database.
import { randomUUID } from 'node:crypto';
import { WorkflowUpdateFailedError } from '@temporalio/client';
import { taskWorkflow } from '../../workflows/task-workflow';
import { endTaskUpdate, requestToolCallUpdate, taskViewQuery, taskWorkflowId, type TaskInput } from '../../workflows/messages';
import { startStack, type Stack } from '../support/stack';

let stack: Stack;
beforeAll(async () => {
  stack = await startStack();
});
afterAll(async () => {
  await stack?.stop();
});

async function startTask(userId = 'alice', agentId = 'coding-agent', options: { historyEventsLimit?: number } = {}) {
  const taskId = `wf-${randomUUID()}`;
  const now = new Date();
  const input: TaskInput = {
    taskId,
    tenant: 'default',
    userId,
    agentId,
    createdAt: now.toISOString(),
    expiresAt: new Date(now.getTime() + 3_600_000).toISOString(),
  };
  await stack.services.tasks.create({ ...input, workflowId: taskWorkflowId(taskId) });
  const handle = await stack.client.workflow.start(taskWorkflow, {
    workflowId: taskWorkflowId(taskId),
    taskQueue: stack.taskQueue,
    args: [input, options],
  });
  return { taskId, handle };
}

const call = (toolId: string, args: Record<string, unknown> = {}, callId = randomUUID()) => ({
  callId,
  toolId,
  arguments: args,
  requestedAt: new Date().toISOString(),
});

describe('task workflow', () => {
  it('starts with an empty context and grants a tool the policy allows', async () => {
    const { taskId, handle } = await startTask();
    expect((await handle.query(taskViewQuery)).context).toEqual([]);
    const result = await handle.executeUpdate(requestToolCallUpdate, { args: [call('github.read_repo', { repo: 'acme/api' })] });
    expect(result.decision).toBe('allow');
    expect(result.policyVersion).toMatch(/^sha256:/);
    const view = await handle.query(taskViewQuery);
    expect(view.context.map((c) => [c.toolId, c.via])).toEqual([['github.read_repo', 'policy']]);
    const grants = await stack.services.tasks.grants(taskId);
    expect(grants.map((g) => g.toolId)).toEqual(['github.read_repo']);
    const trace = await stack.services.traces.get(result.traceId);
    expect(trace?.body).toMatchObject({ taskId, userId: 'alice', agentId: 'coding-agent', toolId: 'github.read_repo', appId: 'github', actionClass: 'Read', decision: 'allow' });
  });

  it('denies an unknown tool with a reason and grants nothing', async () => {
    const { taskId, handle } = await startTask();
    const result = await handle.executeUpdate(requestToolCallUpdate, { args: [call('shadow.tool')] });
    expect(result).toMatchObject({ decision: 'deny', reason: { code: 'unknown_tool' } });
    expect(await stack.services.tasks.grants(taskId)).toEqual([]);
  });

  it('answers the same callId with the first decision and writes one trace', async () => {
    const { taskId, handle } = await startTask();
    const c = call('github.read_repo', { repo: 'acme/api' });
    const first = await handle.executeUpdate(requestToolCallUpdate, { args: [c] });
    const again = await handle.executeUpdate(requestToolCallUpdate, { args: [{ ...c, requestedAt: new Date().toISOString() }] });
    expect(again).toEqual(first);
    const rows = await stack.database.db.query('select count(*)::int as n from decision_traces where task_id = $1 and call_id = $2', [taskId, c.callId]);
    expect(rows[0]).toEqual({ n: 1 });
  });

  it('rejects a call without a callId in the update validator', async () => {
    const { handle } = await startTask();
    await expect(handle.executeUpdate(requestToolCallUpdate, { args: [{ ...call('github.read_repo'), callId: '' }] })).rejects.toBeInstanceOf(
      WorkflowUpdateFailedError,
    );
  });

  it('collapses the context on end, writes a receipt per grant and denies later calls', async () => {
    const { taskId, handle } = await startTask();
    await handle.executeUpdate(requestToolCallUpdate, { args: [call('github.read_repo', { repo: 'acme/api' })] });
    await handle.executeUpdate(requestToolCallUpdate, { args: [call('github.create_pr', { repo: 'acme/api', title: 'docs', head: 'b1' })] });
    const collapsed = await handle.executeUpdate(endTaskUpdate, { args: [{ status: 'ended', reason: 'done', by: 'gateway' }] });
    expect(collapsed.status).toBe('ended');
    expect([...collapsed.revoked].sort()).toEqual(['github.create_pr', 'github.read_repo']);
    expect(await handle.result()).toEqual(collapsed);
    const task = await stack.services.tasks.get(taskId);
    expect(task?.status).toBe('ended');
    const grants = await stack.services.tasks.grants(taskId);
    expect(grants.every((g) => g.revokedAt && g.revokeStatus === 'revoked')).toBe(true);
    const receipts = await stack.database.db.query<{ tool_id: string }>(
      "select tool_id from decision_traces where task_id = $1 and kind = 'revocation' order by tool_id",
      [taskId],
    );
    expect(receipts.map((r) => r.tool_id)).toEqual(['github.create_pr', 'github.read_repo']);
  });

  it('continues as new before history grows large, keeping the context', async () => {
    const { taskId, handle } = await startTask('alice', 'coding-agent', { historyEventsLimit: 20 });
    await handle.executeUpdate(requestToolCallUpdate, { args: [call('github.read_repo', { repo: 'acme/api' })] });
    for (let i = 0; i < 6; i++) await handle.executeUpdate(requestToolCallUpdate, { args: [call('github.create_pr', { repo: 'acme/api', title: `pr ${i}`, head: 'b1' })] });
    const latest = await stack.client.workflow.getHandle(taskWorkflowId(taskId)).describe();
    expect(latest.runId).not.toBe(handle.firstExecutionRunId);
    expect(latest.status.name).toBe('RUNNING');
    const view = await stack.client.workflow.getHandle(taskWorkflowId(taskId)).query(taskViewQuery);
    expect(view.context.map((c) => c.toolId).sort()).toEqual(['github.create_pr', 'github.read_repo']);
  });

  it('loses nothing when the worker dies mid-task: a new worker continues with the context', async () => {
    const { taskId, handle } = await startTask();
    await handle.executeUpdate(requestToolCallUpdate, { args: [call('github.read_repo', { repo: 'acme/api' })] });
    await stack.stopWorker();
    // While no worker runs, the call waits in Temporal; a fresh worker (empty cache) replays and answers it.
    const pending = handle.executeUpdate(requestToolCallUpdate, { args: [call('github.create_pr', { repo: 'acme/api', title: 'x', head: 'b1' })] });
    await new Promise((r) => setTimeout(r, 500));
    await stack.startWorker();
    expect((await pending).decision).toBe('allow');
    const view = await handle.query(taskViewQuery);
    expect(view.context.map((c) => c.toolId).sort()).toEqual(['github.create_pr', 'github.read_repo']);
    const collapsed = await handle.executeUpdate(endTaskUpdate, { args: [{ status: 'ended', reason: 'done', by: 'gateway' }] });
    expect([...collapsed.revoked].sort()).toEqual(['github.create_pr', 'github.read_repo']);
    expect((await stack.services.tasks.get(taskId))?.status).toBe('ended');
  });
});
