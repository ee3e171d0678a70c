// A tool a mover's re-evaluation took away comes back only by the path its reach requires: the
// mover revokes the grant outside the task workflow, which still held the tool in its context.
import { taskWorkflowId } from '../../workflows/messages';
import { patchOps, scim } from '../identity/people';
import { SLACK_IDS, startContextWorld, type ContextWorld } from '../support/context-world';

let world: ContextWorld;
beforeAll(async () => {
  world = await startContextWorld();
});
afterAll(async () => {
  await world?.stop();
});

const PAGE = { pageId: 'p-1' };
const userType = (value: string) => scim(world.stack, 'PATCH', '/Users/alice', patchOps({ op: 'replace', path: 'userType', value }));

it('asks the person to confirm again a tool a mover revoked, once the change is undone', async () => {
  const taskId = await world.newTask({ agentId: await world.newAgent() });
  // alice holds wiki-reader, her agent does not: she confirms.
  const held = await world.call(taskId, 'wiki.read_page', PAGE);
  expect(held.status).toBe(202);
  const waiting = world.call(taskId, 'wiki.read_page', PAGE, { callId: held.body.callId, waitSeconds: 20 });
  expect(await world.click(SLACK_IDS.alice, 'confirm', (await world.card(SLACK_IDS.alice, taskId)).value)).toBe(200);
  expect((await waiting).body).toMatchObject({ decision: 'allow' });
  await world.eventually(async () => (await world.task(taskId)).body.pending.length === 0, 'the hold to close');

  // Reads are for employees: the mover revokes the grant; undone, the policy allows reads again.
  expect((await userType('Contractor')).status).toBe(200);
  expect((await world.task(taskId)).body.revoked).toEqual([expect.objectContaining({ toolId: 'wiki.read_page', status: 'revoked' })]);
  expect((await userType('Employee')).status).toBe(200);

  // Before the fix this was allowed at once, as if still in context: no confirmation, no grant.
  const again = await world.call(taskId, 'wiki.read_page', PAGE);
  expect(again.status).toBe(202);
  expect(again.body).toMatchObject({ decision: 'pending' });
  expect(await world.click(SLACK_IDS.alice, 'confirm', (await world.card(SLACK_IDS.alice, taskId, { nth: 1 })).value)).toBe(200);
  const decided = await world.call(taskId, 'wiki.read_page', PAGE, { callId: again.body.callId, waitSeconds: 20 });
  expect(decided.body).toMatchObject({ decision: 'allow' });
  const trace = await world.stack.services.traces.get(decided.body.traceId);
  expect(trace?.body).toMatchObject({ grantedVia: 'user-confirmation', approvals: [expect.objectContaining({ personId: 'alice', choice: 'confirm' })] });
  expect((await world.task(taskId)).body.context).toEqual([expect.objectContaining({ toolId: 'wiki.read_page', via: 'user-confirmation' })]);
  // The next call is in context again.
  expect((await world.call(taskId, 'wiki.read_page', PAGE)).body).toMatchObject({ decision: 'allow' });

  await world.stack.request('POST', `/v1/tasks/${taskId}/end`);
  await world.recordHistory('mover-regrant', taskWorkflowId(taskId));
});
