// Several held calls answered at once beside new calls: the task's local activities overlap.
// Their history must replay (a worker that lost its cache replays it): run one at a time, they
// are recorded in the order replay reproduces; run concurrently, replay failed as nondeterministic.
import { randomUUID } from 'node:crypto';
import { Worker } from '@temporalio/worker';
import { taskWorkflowId } from '../../workflows/messages';
import { SLACK_IDS, startContextWorld, type ContextWorld } from '../support/context-world';
import { workflowBundle } from '../support/stack';

let world: ContextWorld;
beforeAll(async () => {
  world = await startContextWorld({ stepTimeoutSeconds: 300 });
});
afterAll(async () => {
  await world?.stop();
});

it('replays a task whose held calls were answered together with new calls coming in', async () => {
  const taskIds: string[] = [];
  for (let round = 0; round < 3; round++) {
    const taskId = await world.newTask({ agentId: await world.newAgent() });
    taskIds.push(taskId);
    const branches = ['a', 'b', 'c', 'd'];
    for (const branch of branches) {
      expect((await world.call(taskId, 'github.delete_branch', { repo: 'acme/api', branch }, { callId: `call-${randomUUID()}` })).status).toBe(202);
    }
    const cards = await Promise.all(branches.map((_, nth) => world.card(SLACK_IDS.bob, taskId, { nth })));
    const clicks = cards.map((card, i) => world.click(SLACK_IDS.bob, i % 2 ? 'deny' : 'approve_once', card.value));
    const calls = [world.call(taskId, 'github.create_pr', { repo: 'acme/api', title: 't', head: 'h' }), world.call(taskId, 'github.read_repo', { repo: 'acme/api' })];
    expect(await Promise.all(clicks)).toEqual([200, 200, 200, 200]);
    expect((await Promise.all(calls)).map((c) => c.body.decision)).toEqual(['allow', 'allow']);
    await world.eventually(async () => (await world.task(taskId)).body.pending.length === 0, 'the answers to be decided');
  }
  for (const taskId of taskIds) {
    const history = await world.stack.client.workflow.getHandle(taskWorkflowId(taskId)).fetchHistory();
    await expect(Worker.runReplayHistory({ workflowBundle: await workflowBundle(), replayName: `concurrent-${taskId}` }, history)).resolves.toBeUndefined();
  }
  for (const taskId of taskIds) expect((await world.stack.request('POST', `/v1/tasks/${taskId}/end`)).body).toMatchObject({ status: 'ended' });
  await world.recordHistory('concurrent-steps', taskWorkflowId(taskIds[0]));
});
