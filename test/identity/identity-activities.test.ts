// The offboarding activities over a real database, with Temporal's visibility replaced by a
// double: the union of visibility and projection, collapse detection, idempotent traces.
import { createIdentityActivities } from '../../activities/identity';
import { TraceStore } from '../../src/audit/trace-store';
import { DirectoryRepository } from '../../src/directory/directory-repository';
import { TaskRepository } from '../../src/tasks/task-repository';
import { taskWorkflowId } from '../../workflows/messages';
import { testDatabase, type TestDatabase } from '../support/databases';

let database: TestDatabase;
let activities: ReturnType<typeof createIdentityActivities>;
let tasks: TaskRepository;
let visible: string[] = [];

beforeAll(async () => {
  database = await testDatabase('pglite');
  const db = database.db;
  tasks = new TaskRepository(db);
  const directory = new DirectoryRepository(db);
  await directory.seed([{ id: 'lee', userName: 'lee@example.com', userType: 'Employee' }], [{ id: 'bot', name: 'Bot', owner: 'lee' }]);
  activities = createIdentityActivities({
    db,
    tasks,
    traces: new TraceStore(db, 'default'),
    directory,
    policy: { active: () => ({}) as never, refresh: async () => undefined },
    runningTaskWorkflows: async () => visible,
  });
  const now = new Date().toISOString();
  for (const taskId of ['t1', 't2', 't3']) {
    await tasks.create({ taskId, tenant: 'default', userId: 'lee', agentId: 'bot', workflowId: taskWorkflowId(taskId), createdAt: now, expiresAt: new Date(Date.now() + 3_600_000).toISOString() });
  }
  await db.transaction(async (tx) => {
    await tasks.insertGrant(tx, { taskId: 't1', toolId: 'github.read_repo', appId: 'github', via: 'policy', grantedAt: now });
    await tasks.markCollapsed(tx, 't3', 'ended', 'done');
  });
});
afterAll(async () => {
  await database?.drop();
});

describe('identity activities', () => {
  it('unites running workflows from visibility with active tasks from the projection', async () => {
    // t3 ended in the projection but its workflow still runs; "t9" is not projected yet.
    visible = [taskWorkflowId('t3'), taskWorkflowId('t9'), 'offboarding-lee-x'];
    expect((await activities.runningTasksOf({ userId: 'lee' })).map((t) => t.taskId)).toEqual(['t1', 't2', 't3', 't9']);
    visible = [];
    expect((await activities.runningTasksOf({ userId: 'lee' })).map((t) => t.taskId)).toEqual(['t1', 't2']);
  });

  it('sees a task collapsed only once it is no longer active and no grant revocation is pending', async () => {
    expect(await activities.notCollapsed({ taskIds: ['t1', 't2', 't3'] })).toEqual(['t1', 't2']);
    await database.db.transaction((tx) => tasks.markCollapsed(tx, 't1', 'revoked', 'offboarded'));
    expect(await activities.notCollapsed({ taskIds: ['t1', 't2'] })).toEqual(['t1', 't2']);
    await database.db.transaction((tx) => tasks.setRevokeStatus(tx, 't1', 'github.read_repo', 'revoked'));
    expect(await activities.notCollapsed({ taskIds: ['t1', 't2'] })).toEqual(['t2']);
  });

  it('orphans the person’s agents, and reports them again on a retry', async () => {
    expect(await activities.orphanAgentsOf({ userId: 'lee' })).toEqual(['bot']);
    expect(await activities.orphanAgentsOf({ userId: 'lee' })).toEqual(['bot']);
  });

  it('writes one trace per task and one summary, once, however often it is retried', async () => {
    await database.db.query("insert into offboardings (offboarding_id, user_id, trigger) values ('off-1', 'lee', 'hr')");
    const input = { offboardingId: 'off-1', userId: 'lee', by: 'hr', taskIds: ['t1'], unfinished: ['t2'], agentsOrphaned: ['bot'], approvalsMoved: [] };
    const first = await activities.recordOffboarding(input);
    const again = await activities.recordOffboarding(input);
    expect(again.summaryTraceId).toBe(first.summaryTraceId);
    expect(first.tasks).toEqual([{ taskId: 't1', status: 'revoked', revoked: ['github.read_repo'], receipts: [], traceId: expect.any(String) }]);
    const traces = await database.db.query<{ task_id: string | null }>("select task_id from decision_traces where kind = 'offboarding' order by seq");
    expect(traces).toEqual([{ task_id: 't1' }, { task_id: null }]);
    const [row] = await database.db.query<{ summary_trace_id: string }>("select summary_trace_id from offboardings where offboarding_id = 'off-1'");
    expect(row.summary_trace_id).toBe(first.summaryTraceId);
  });
});
