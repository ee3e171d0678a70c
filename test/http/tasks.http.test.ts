// The gateway API end to end against the running NestJS app, worker and dev server.
import { randomUUID } from 'node:crypto';
import { toolCallUpdateId } from '../../src/tasks/tasks.service';
import { taskWorkflowId } from '../../workflows/messages';
import { startStack, TOKENS, type Stack } from '../support/stack';

let stack: Stack;
beforeAll(async () => {
  stack = await startStack();
});
afterAll(async () => {
  await stack?.stop();
});

const newTask = async (body: Record<string, unknown> = {}) => {
  const res = await stack.request('POST', '/v1/tasks', { body: { userId: 'alice', agentId: 'coding-agent', purpose: 'fix a bug', ...body } });
  expect(res.status).toBe(201);
  return res.body.taskId as string;
};

/** The task's recorded decisions, in chain order. */
const decisionsOf = (taskId: string) =>
  stack.database.db.query<{ call_id: string; decision: string }>("select call_id, decision from decision_traces where task_id = $1 and kind = 'decision' order by seq", [
    taskId,
  ]);

/** A repository read by the task's agent. */
const readRepo = (taskId: string, callId: string) =>
  stack.request('POST', `/v1/tasks/${taskId}/tool-calls`, { body: { callId, toolId: 'github.read_repo', arguments: { repo: 'acme/api' } } });

/**
 * A change the projection does not hear of (no trigger fires): the context, as this process holds
 * it, is as before, as when a change commits between a call's read and its record.
 */
const unheard = (sql: string, id: string) =>
  stack.database.db.transaction(async (tx) => {
    await tx.query('set local session_replication_role = replica');
    await tx.query(sql, [id]);
  });
const endUnheard = (taskId: string) => unheard("update tasks set status = 'revoked' where task_id = $1", taskId);
const offboardUnheard = (userId: string) => unheard('update users set active = false where id = $1', userId);

/** A new person like alice (her department, manager and groups), for a test that offboards them. */
const aliceLike = async () => {
  const id = `p-${randomUUID()}`;
  await stack.database.db.query(
    `insert into users (id, user_name, display_name, title, department, user_type, manager_id, email, resource)
     select $1, $1, display_name, title, department, user_type, manager_id, $1 || '@example.com', resource from users where id = 'alice'`,
    [id],
  );
  await stack.database.db.query("insert into group_members (group_id, user_id) select group_id, $1 from group_members where user_id = 'alice'", [id]);
  return id;
};

describe('tasks API', () => {
  it('runs the slice: start, decide (workflow then projection), read, end, deny after end', async () => {
    const taskId = `http-${randomUUID()}`;
    const started = await stack.request('POST', '/v1/tasks', { body: { taskId, userId: 'alice', agentId: 'coding-agent', ttlSeconds: 600 } });
    expect(started.status).toBe(201);
    expect(started.body).toMatchObject({ taskId, status: 'active', userId: 'alice', agentId: 'coding-agent' });
    expect(Date.parse(started.body.expiresAt) - Date.now()).toBeGreaterThan(590_000);
    expect(started.headers.get('x-correlation-id')).toBeTruthy();

    const again = await stack.request('POST', '/v1/tasks', { body: { taskId, userId: 'alice', agentId: 'coding-agent' } });
    expect(again.status).toBe(200);
    expect(again.body.expiresAt).toBe(started.body.expiresAt);

    const first = await stack.request('POST', `/v1/tasks/${taskId}/tool-calls`, { body: { callId: 'c1', toolId: 'github.read_repo', arguments: { repo: 'acme/api' } } });
    expect(first.status).toBe(200);
    expect(first.body).toMatchObject({ callId: 'c1', decision: 'allow', policyVersion: expect.stringMatching(/^sha256:/) });

    const second = await stack.request('POST', `/v1/tasks/${taskId}/tool-calls`, { body: { callId: 'c2', toolId: 'github.read_repo', arguments: { repo: 'acme/web' } } });
    expect(second.body.decision).toBe('allow');
    expect(second.body.traceId).not.toBe(first.body.traceId);

    const repeat = await stack.request('POST', `/v1/tasks/${taskId}/tool-calls`, { body: { callId: 'c1', toolId: 'github.read_repo', arguments: { repo: 'acme/api' } } });
    expect(repeat.body).toEqual(first.body);
    const read = await stack.request('GET', `/v1/tasks/${taskId}/tool-calls/c1`);
    expect(read.body).toEqual(first.body);

    const view = await stack.request('GET', `/v1/tasks/${taskId}`);
    expect(view.status).toBe(200);
    expect(view.body).toMatchObject({ taskId, status: 'active', userId: 'alice', agentId: 'coding-agent', pending: [] });
    expect(view.body.context).toEqual([expect.objectContaining({ toolId: 'github.read_repo', appId: 'github', via: 'policy' })]);

    const ended = await stack.request('POST', `/v1/tasks/${taskId}/end`);
    expect(ended.status).toBe(200);
    expect(ended.body).toEqual({ taskId, status: 'ended', revoked: ['github.read_repo'] });

    const after = await stack.request('POST', `/v1/tasks/${taskId}/tool-calls`, { body: { callId: 'c3', toolId: 'github.read_repo', arguments: { repo: 'acme/api' } } });
    expect(after.status).toBe(200);
    expect(after.body).toMatchObject({ decision: 'deny', reason: { code: 'task_not_active' } });
    expect((await stack.request('GET', `/v1/tasks/${taskId}`)).body).toMatchObject({ status: 'ended', context: [] });

    expect(await decisionsOf(taskId)).toEqual([
      { call_id: 'c1', decision: 'allow' },
      { call_id: 'c2', decision: 'allow' },
      { call_id: 'c3', decision: 'deny' },
    ]);
  });

  it("has a new task in the projection by its first call, so that call does not read it", async () => {
    const taskId = await newTask();
    const views = jest.spyOn(stack.services.tasks, 'view');
    try {
      const first = await stack.request('POST', `/v1/tasks/${taskId}/tool-calls`, { body: { callId: 'c1', toolId: 'github.read_repo', arguments: { repo: 'acme/api' } } });
      expect(first.body.decision).toBe('allow');
      expect(views.mock.calls.filter(([id]) => id === taskId)).toHaveLength(0);
      // The grant changed the task: the projection forgot it, and the next call reads it again.
      const second = await stack.request('POST', `/v1/tasks/${taskId}/tool-calls`, { body: { callId: 'c2', toolId: 'github.read_repo', arguments: { repo: 'acme/web' } } });
      expect(second.body.decision).toBe('allow');
      expect(views.mock.calls.filter(([id]) => id === taskId)).toHaveLength(1);
    } finally {
      views.mockRestore();
    }
  });

  // Each change commits after the context the third call is decided from was read.
  it.each([
    { change: 'its task ended', code: 'task_not_active', unheardChange: (taskId: string) => endUnheard(taskId) },
    { change: 'its person was offboarded', code: 'user_inactive', unheardChange: (_: string, userId: string) => offboardUnheard(userId) },
  ])('decides a call again from a fresh read (task, person and agent) when $change', async ({ code, unheardChange }) => {
    const person = await aliceLike();
    const taskId = await newTask({ userId: person });
    expect((await readRepo(taskId, 'c1')).body.decision).toBe('allow');
    expect((await readRepo(taskId, 'c2')).body.decision).toBe('allow'); // in context, from the projection
    await unheardChange(taskId, person);
    const third = await readRepo(taskId, 'c3');
    expect(third.body).toMatchObject({ decision: 'deny', reason: { code } });
    expect(await decisionsOf(taskId)).toEqual([
      { call_id: 'c1', decision: 'allow' },
      { call_id: 'c2', decision: 'allow' },
      { call_id: 'c3', decision: 'deny' },
    ]);
  });

  it('answers 503 context_changing, recording nothing, when every fresh read is stale again by its record', async () => {
    const taskId = await newTask();
    expect((await readRepo(taskId, 'c1')).body.decision).toBe('allow');
    const before = await stack.services.projection.task(taskId);
    await endUnheard(taskId);
    // Each fresh read gives the context as it was (as if changed again before each record).
    const afresh = jest.spyOn(stack.services.projection, 'taskAfresh').mockImplementation(async () => before);
    try {
      const res = await readRepo(taskId, 'c2');
      expect(res.status).toBe(503);
      expect(res.body).toMatchObject({ code: 'context_changing', retryAfterMs: 100 });
      expect(afresh).toHaveBeenCalledTimes(3);
    } finally {
      afresh.mockRestore();
    }
    expect(await stack.database.db.query("select 1 from decision_traces where task_id = $1 and call_id = 'c2'", [taskId])).toEqual([]);
  });

  it('writes the trace before the response leaves, with who, what and which policy', async () => {
    const taskId = await newTask();
    const res = await stack.request('POST', `/v1/tasks/${taskId}/tool-calls`, { body: { callId: 'x', toolId: 'github.read_repo', arguments: { repo: 'a/b' } } });
    const trace = await stack.services.traces.get(res.body.traceId);
    expect(trace).toMatchObject({
      kind: 'decision',
      body: { taskId, callId: 'x', userId: 'alice', agentId: 'coding-agent', toolId: 'github.read_repo', appId: 'github', actionClass: 'Read', decision: 'allow', policyVersion: res.body.policyVersion },
    });
    expect(trace?.body.argsDigest).toMatch(/^sha256:/);
    expect(trace?.occurredAt).toBeTruthy();
  });

  it('denies an unknown tool with a reason the agent can use, without a round trip to the workflow', async () => {
    const taskId = await newTask();
    const handle = stack.client.workflow.getHandle(taskWorkflowId(taskId));
    // A call that does need the workflow. It is answered at its commit; its update completes with
    // the workflow task that follows.
    await stack.request('POST', `/v1/tasks/${taskId}/tool-calls`, { body: { callId: 'r', toolId: 'github.read_repo', arguments: { repo: 'a/b' } } });
    await handle.getUpdateHandle(toolCallUpdateId('r')).result();
    const before = (await handle.describe()).historyLength;
    for (const callId of ['u1', 'u2', 'u3']) {
      const res = await stack.request('POST', `/v1/tasks/${taskId}/tool-calls`, { body: { callId, toolId: 'shadow.exfiltrate' } });
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({ decision: 'deny', reason: { code: 'unknown_tool', message: expect.any(String) } });
    }
    // A refused call changes no context: a rogue agent's retries neither load the worker nor grow the history.
    expect((await handle.describe()).historyLength).toBe(before);
    const repeated = await stack.request('POST', `/v1/tasks/${taskId}/tool-calls`, { body: { callId: 'u1', toolId: 'shadow.exfiltrate' } });
    expect((await stack.services.traces.query({ filter: `taskId eq "${taskId}" and decision eq "deny"` })).totalResults).toBe(3);
    expect(repeated.body.traceId).toBe((await stack.services.traces.findDecision(taskId, 'u1'))!.traceId);
  });

  it('refuses a callId reused for another call with 409 on every path, never answering with the other call\'s decision', async () => {
    const taskId = await newTask();
    const call = (callId: string, toolId: string, args?: Record<string, unknown>) =>
      stack.request('POST', `/v1/tasks/${taskId}/tool-calls`, { body: args === undefined ? { callId, toolId } : { callId, toolId, arguments: args } });
    const expectConflict = (res: { status: number; body: any }) => {
      expect(res.status).toBe(409);
      expect(res.body).toMatchObject({ code: 'call_conflict', detail: expect.stringContaining('a new call needs a new callId') });
    };
    // Decided by the workflow (a new grant), then in context (the projection).
    const first = await call('c1', 'github.read_repo', { repo: 'acme/api' });
    expect(first.body.decision).toBe('allow');
    const inContext = await call('c2', 'github.read_repo', { repo: 'acme/web' });
    expect(inContext.body.decision).toBe('allow');
    expectConflict(await call('c2', 'github.read_repo', { repo: 'acme/secrets' })); // projection, other arguments
    expectConflict(await call('c1', 'github.create_pr', { repo: 'acme/api', title: 't', head: 'b' })); // workflow, other tool
    expect((await call('c2', 'github.read_repo', { repo: 'acme/web' })).body).toEqual(inContext.body); // the same call: its answer
    // A denial, reused for a tool that would be allowed; no arguments and {} are the same call.
    const denied = await call('d1', 'shadow.exfiltrate');
    expect(denied.body.decision).toBe('deny');
    expectConflict(await call('d1', 'github.read_repo', { repo: 'acme/api' }));
    expect((await call('d1', 'shadow.exfiltrate', {})).body).toEqual(denied.body);
    // A held call: its escalation answers only the call it holds.
    const held = await call('h1', 'github.delete_branch', { repo: 'acme/api', branch: 'old' });
    expect([held.status, held.body.decision]).toEqual([202, 'pending']);
    expectConflict(await call('h1', 'github.delete_branch', { repo: 'acme/api', branch: 'main' }));
    expect((await call('h1', 'github.delete_branch', { repo: 'acme/api', branch: 'old' })).body).toEqual(held.body);
    // Two requests at once under one callId, for two tools the workflow would grant: one is decided,
    // the other refused (joined to the first one's update, or finding its record).
    const both = await Promise.all([call('x1', 'github.create_pr', { repo: 'acme/api', title: 't', head: 'b' }), call('x1', 'web.fetch', { url: 'https://example.com/' })]);
    expect(both.map((r) => r.status).sort()).toEqual([200, 409]);
    // Nothing was recorded for the refused requests.
    const recorded = await stack.database.db.query<{ call_id: string; tool_id: string }>(
      "select call_id, tool_id from decision_traces where task_id = $1 and kind in ('decision', 'escalation') order by seq",
      [taskId],
    );
    expect(recorded.map((r) => r.call_id)).toEqual(['c1', 'c2', 'd1', 'h1', 'x1']);
  });

  it("throttles a task's 101st repository read in a minute (the example rule), saying when to retry; another task is not", async () => {
    const taskId = await newTask();
    const read = (task: string, callId: string) =>
      stack.request('POST', `/v1/tasks/${task}/tool-calls`, { body: { callId, toolId: 'github.read_repo', arguments: { repo: 'acme/api' } } });
    for (let i = 0; i < 100; i++) expect((await read(taskId, `r${i}`)).body.decision).toBe('allow');
    const throttled = await read(taskId, 'r100');
    expect(throttled.body).toMatchObject({ decision: 'throttle', reason: { code: expect.any(String) } });
    expect(throttled.body.retryAfterMs).toBeGreaterThan(50_000);
    expect(throttled.body.retryAfterMs).toBeLessThanOrEqual(60_000);
    expect((await read(await newTask(), 'r0')).body.decision).toBe('allow');
  });

  it('answers 401 without or with a bad token and 403 for the wrong role', async () => {
    expect((await stack.request('POST', '/v1/tasks', { token: null, body: { userId: 'alice', agentId: 'coding-agent' } })).status).toBe(401);
    const bad = await stack.request('GET', '/v1/tasks/x', { token: 'not-a-real-token-at-all' });
    expect(bad.status).toBe(401);
    expect(bad.headers.get('content-type')).toContain('application/problem+json');
    const wrong = await stack.request('POST', '/v1/tasks', { token: TOKENS.scim, body: { userId: 'alice', agentId: 'coding-agent' } });
    expect(wrong.status).toBe(403);
    expect(wrong.body).toMatchObject({ status: 403, code: 'forbidden' });
  });

  it('rejects malformed bodies with 400 problem+json and starts no workflow', async () => {
    const taskId = `bad-${randomUUID()}`;
    for (const body of [
      '{"taskId": "broken json',
      { taskId, agentId: 'coding-agent' },
      { taskId, userId: 'alice', agentId: 'coding-agent', ttlSeconds: -5 },
      { taskId, userId: 'alice', agentId: 'coding-agent', extra: true },
      { taskId: 'has spaces', userId: 'alice', agentId: 'coding-agent' },
    ]) {
      const res = await stack.request('POST', '/v1/tasks', { body });
      expect(res.status).toBe(400);
      expect(res.headers.get('content-type')).toContain('application/problem+json');
      expect(res.body).toMatchObject({ status: 400, title: 'Bad Request', detail: expect.any(String) });
    }
    await expect(stack.client.workflow.getHandle(taskWorkflowId(taskId)).describe()).rejects.toThrow();
    expect(await stack.services.tasks.get(taskId)).toBeUndefined();
    const t = await newTask();
    const badCall = await stack.request('POST', `/v1/tasks/${t}/tool-calls`, { body: { toolId: 'github.read_repo' } });
    expect(badCall.status).toBe(400);
    expect(badCall.body.detail).toContain('callId');
  });

  it('refuses unknown or inactive people and unknown agents with a reason code, starting nothing', async () => {
    const taskId = `who-${randomUUID()}`;
    const unknownUser = await stack.request('POST', '/v1/tasks', { body: { taskId, userId: 'nobody', agentId: 'coding-agent' } });
    expect(unknownUser.status).toBe(422);
    expect(unknownUser.body.code).toBe('user_unknown');
    const unknownAgent = await stack.request('POST', '/v1/tasks', { body: { taskId, userId: 'alice', agentId: 'ghost-agent' } });
    expect(unknownAgent.body.code).toBe('agent_unknown');
    await expect(stack.client.workflow.getHandle(taskWorkflowId(taskId)).describe()).rejects.toThrow();
  });

  it('ends a task on a POST with a JSON content-type and no body (as curl -X POST sends it)', async () => {
    const taskId = await newTask();
    const res = await stack.request('POST', `/v1/tasks/${taskId}/end`, { headers: { 'content-type': 'application/json' } });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ taskId, status: 'ended' });
  });

  it('answers 404 for an unknown task', async () => {
    const res = await stack.request('GET', `/v1/tasks/${randomUUID()}`);
    expect(res.status).toBe(404);
    expect(res.body.code).toBe('task_not_found');
    const call = await stack.request('POST', `/v1/tasks/${randomUUID()}/tool-calls`, { body: { callId: 'a', toolId: 'wiki.search' } });
    expect(call.status).toBe(404);
    expect((await stack.request('POST', `/v1/tasks/${randomUUID()}/end`)).status).toBe(404);
  });

  it('serves health, readiness and metrics', async () => {
    expect((await stack.request('GET', '/healthz', { token: null })).body).toEqual({ status: 'ok' });
    const ready = await stack.request('GET', '/readyz', { token: null });
    expect(ready.status).toBe(200);
    expect(ready.body.checks).toEqual({ database: 'ok', temporal: 'ok' });
    const taskId = await newTask();
    await stack.request('POST', `/v1/tasks/${taskId}/tool-calls`, { body: { callId: 'm1', toolId: 'github.read_repo', arguments: { repo: 'a/b' } } });
    await stack.request('POST', `/v1/tasks/${taskId}/tool-calls`, { body: { callId: 'm2', toolId: 'nope.tool' } });
    const metrics = await stack.request('GET', '/metrics', { token: null });
    expect(metrics.body).toMatch(/agent_access_decision_seconds_bucket\{.*outcome="allow"/);
    expect(metrics.body).toMatch(/agent_access_decisions_total\{outcome="deny"\} \d+/);
    for (const gauge of ['approvals_pending', 'approvals_pending_oldest_seconds', 'grants_live', 'revocations_failing', 'database_xid_age']) {
      expect(metrics.body).toMatch(new RegExp(`^agent_access_${gauge} \\d+`, 'm'));
    }
    expect(metrics.body).toMatch(/^agent_access_projection_listening 1$/m);
    // The calls above loaded the task into the projection (and its person and agent).
    expect(metrics.body).toMatch(/^agent_access_projection_entries\{kind="tasks"\} [1-9]\d*$/m);
  });

  it('reports the Decision Trace group commits in metrics: how many, how long, how many records each', async () => {
    const taskId = await newTask();
    const first = await stack.request('POST', `/v1/tasks/${taskId}/tool-calls`, { body: { callId: 'c0', toolId: 'github.read_repo', arguments: { repo: 'a/b' } } });
    expect(first.body.decision).toBe('allow');
    const read = async () => {
      const body = (await stack.request('GET', '/metrics', { token: null })).body as string;
      const value = (name: string) => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(body)?.[1]);
      return {
        commits: value('agent_access_trace_commit_records_count'),
        records: value('agent_access_trace_commit_records_sum'),
        timed: value('agent_access_trace_commit_seconds_count'),
        seconds: value('agent_access_trace_commit_seconds_sum'),
      };
    };
    const before = await read();
    // Sent together: in context, they are recorded by group commits of this process.
    const calls = await Promise.all(
      Array.from({ length: 8 }, (_, i) =>
        stack.request('POST', `/v1/tasks/${taskId}/tool-calls`, { body: { callId: `c${i + 1}`, toolId: 'github.read_repo', arguments: { repo: 'a/b' } } }),
      ),
    );
    expect(calls.map((c) => c.body.decision)).toEqual(Array(8).fill('allow'));
    const after = await read();
    expect(after.records - before.records).toBe(8);
    expect(after.commits - before.commits).toBeGreaterThanOrEqual(1);
    expect(after.commits - before.commits).toBeLessThanOrEqual(8);
    expect(after.timed - before.timed).toBe(after.commits - before.commits);
    expect(after.seconds).toBeGreaterThan(before.seconds);
  });
});
