// While a task workflow's workflow task is failing (here: a worker whose workflow code fails every
// workflow task takes it), Temporal refuses Updates at once. A gateway's call that
// needs the workflow waits for a good worker to run the task again, instead of a 500.
import { NativeConnection, Worker, type WorkflowBundle } from '@temporalio/worker';
import { taskWorkflowId } from '../../workflows/messages';
import { startContextWorld, type ContextWorld } from '../support/context-world';
import { otherWorkflowBundle } from '../support/stack';

let world: ContextWorld;
let failing: WorkflowBundle;
beforeAll(async () => {
  world = await startContextWorld();
  failing = await otherWorkflowBundle('failing');
});
afterAll(async () => {
  await world?.stop();
});

/** A worker on the stack's task queue whose workflow code fails every workflow task. */
async function startBrokenWorker(): Promise<{ stop(): Promise<void> }> {
  const connection = await NativeConnection.connect({ address: process.env.TEMPORAL_ADDRESS! });
  const worker = await Worker.create({ connection, taskQueue: world.stack.taskQueue, workflowBundle: failing });
  const running = worker.run();
  return {
    async stop() {
      worker.shutdown();
      await running;
      await connection.close();
    },
  };
}

/** Workflow tasks that failed or timed out (a worker that cannot run the code holds its task until it times out). */
async function workflowTaskFailures(taskId: string): Promise<number> {
  const history = await world.stack.client.workflow.getHandle(taskWorkflowId(taskId)).fetchHistory();
  return history.events!.filter((e) => e.workflowTaskFailedEventAttributes || e.workflowTaskTimedOutEventAttributes).length;
}

it('holds a new grant while the workflow task fails, and answers once a good worker runs it again', async () => {
  const taskId = await world.newTask({ agentId: await world.newAgent() });
  await world.stack.stopWorker();
  const broken = await startBrokenWorker();
  let first: ReturnType<ContextWorld['call']>;
  let second: ReturnType<ContextWorld['call']>;
  try {
    // The broken worker fails the workflow task of a first call (which waits for a good worker)...
    first = world.call(taskId, 'github.create_pr', { repo: 'acme/api', title: 'fix', head: 'fix' });
    await world.eventually(async () => (await workflowTaskFailures(taskId)) > 0, 'a failed workflow task', 30_000);
    // ...and a call that comes after the failure is refused by Temporal until a task succeeds.
    second = world.call(taskId, 'github.read_repo', { repo: 'acme/api' });
    await new Promise((r) => setTimeout(r, 500));
  } finally {
    await broken.stop();
    await world.stack.startWorker();
  }
  const answers = await Promise.all([first, second]);
  // The second was a 500 (FAILED_PRECONDITION from the Update) before.
  expect(answers.map((a) => [a.status, a.body.decision])).toEqual([
    [200, 'allow'],
    [200, 'allow'],
  ]);
  expect((await world.task(taskId)).body.context.map((c: { toolId: string }) => c.toolId).sort()).toEqual(['github.create_pr', 'github.read_repo']);
  expect((await world.stack.request('POST', `/v1/tasks/${taskId}/end`)).body).toMatchObject({ status: 'ended', revoked: expect.arrayContaining(['github.create_pr', 'github.read_repo']) });
});
