// A new grant is answered the moment its decision commits: when this process's worker recorded
// it, the API does not wait for the update's answer to come back through Temporal. A replica
// without the worker hears nothing of that commit and answers from the update, the same answer.
import 'reflect-metadata';
import { randomUUID } from 'node:crypto';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { Client, type WorkflowClientInterceptor } from '@temporalio/client';
import { createApi } from '../../src/main';
import { createServices, type Services } from '../../src/services';
import { startStack, TOKENS, type Stack } from '../support/stack';

const PR = { repo: 'acme/api', title: 'Fix the build', head: 'fix-build' };
const HELD_MS = 3000;

let stack: Stack;
const apps: NestFastifyApplication[] = [];
const extraServices: Services[] = [];

beforeAll(async () => {
  stack = await startStack();
});

afterAll(async () => {
  for (const app of apps) await app.close();
  for (const s of extraServices) await s.close();
  await stack?.stop();
});

async function listening(app: NestFastifyApplication): Promise<string> {
  apps.push(app);
  await app.listen(0, '127.0.0.1');
  return (await app.getUrl()).replace('[::1]', '127.0.0.1');
}

async function newGrant(baseUrl: string) {
  const task = await stack.request('POST', '/v1/tasks', { body: { userId: 'alice', agentId: 'coding-agent' } });
  expect(task.status).toBe(201);
  const taskId = task.body.taskId as string;
  const callId = randomUUID();
  const started = Date.now();
  const res = await fetch(`${baseUrl}/v1/tasks/${taskId}/tool-calls`, {
    method: 'POST',
    headers: { authorization: `Bearer ${TOKENS.gateway}`, 'content-type': 'application/json' },
    body: JSON.stringify({ callId, toolId: 'github.create_pr', arguments: PR }),
  });
  const body = (await res.json()) as Record<string, unknown>;
  return { taskId, callId, status: res.status, body, ms: Date.now() - started };
}

it("answers from the committed decision without waiting for the update's answer", async () => {
  // The update's answer held back: only the commit can answer this fast.
  let held = 0;
  const holdBack: WorkflowClientInterceptor = {
    async startUpdate(input, next) {
      const out = await next(input);
      held++;
      await new Promise((r) => setTimeout(r, HELD_MS));
      return out;
    },
  };
  const slowClient = new Client({ connection: stack.client.connection, namespace: stack.services.config.temporal.namespace, interceptors: { workflow: [holdBack] } });
  const baseUrl = await listening(await createApi(stack.services, slowClient));

  const { taskId, callId, status, body, ms } = await newGrant(baseUrl);
  expect(status).toBe(200);
  expect(body).toMatchObject({ callId, decision: 'allow' });
  expect(ms).toBeLessThan(HELD_MS);
  // It went through the workflow (the update was sent), and it is what the call reads back.
  const read = await stack.request('GET', `/v1/tasks/${taskId}/tool-calls/${callId}`);
  expect(read.body).toEqual(body);
  expect((await stack.request('GET', `/v1/tasks/${taskId}`)).body.context).toEqual([expect.objectContaining({ toolId: 'github.create_pr' })]);
  await new Promise((r) => setTimeout(r, HELD_MS));
  expect(held).toBe(1);
});

it('answers from the update on a replica whose process did not record the decision', async () => {
  // Its own services (trace store, projection) on the same database, no worker: the worker's
  // commit is not heard there.
  const replica = await createServices(stack.services.config, { db: stack.database.db });
  extraServices.push(replica);
  const baseUrl = await listening(await createApi(replica, stack.client));

  const { taskId, callId, status, body } = await newGrant(baseUrl);
  expect(status).toBe(200);
  expect(body).toMatchObject({ callId, decision: 'allow' });
  const read = await stack.request('GET', `/v1/tasks/${taskId}/tool-calls/${callId}`);
  expect(read.body).toEqual(body);
});
