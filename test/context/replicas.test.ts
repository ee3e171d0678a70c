// Two API replicas on one PostgreSQL database, each deciding in-context calls from its own
// in-memory projection: a kill switch, an offboarding (SCIM) or an ended task answered by one
// replica is honoured by the other within 1 s — without the other asking the database per call —
// and by the replica that answered on its very next call.
import 'reflect-metadata';
import { randomUUID } from 'node:crypto';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { PgClient } from '../../src/db/pg-client';
import { createApi } from '../../src/main';
import { createServices, type Services } from '../../src/services';
import { createAgent, createPerson, patchOps, scim } from '../identity/people';
import { requestTo, startStack, TOKENS, type Stack } from '../support/stack';

const PR = { repo: 'acme/api', title: 'Fix the build', head: 'fix-build' };

let a: Stack;
let b: { baseUrl: string; services: Services; app: NestFastifyApplication; db: PgClient };

beforeAll(async () => {
  a = await startStack({ engine: 'postgres' });
  // Replica B: its own connections, projection and API; the same database, Temporal task queue and tokens.
  const db = PgClient.open(a.database.url!);
  const services = await createServices(a.services.config, { db });
  const app = await createApi(services, a.client);
  await app.listen(0, '127.0.0.1');
  b = { baseUrl: (await app.getUrl()).replace('[::1]', '127.0.0.1'), services, app, db };
});

afterAll(async () => {
  await b?.app.close();
  await b?.services.close();
  await b?.db.close();
  await a?.stop();
});

async function callOn(baseUrl: string, taskId: string) {
  const res = await requestTo(baseUrl)('POST', `/v1/tasks/${taskId}/tool-calls`, { body: { callId: randomUUID(), toolId: 'github.create_pr', arguments: PR } });
  return res.body as { decision: string; reason?: { code: string } };
}

/** A task whose context holds github.create_pr, decided on B from B's cached projection. */
async function taskCachedOnB(userId: string, agentId: string): Promise<string> {
  const started = await a.request('POST', '/v1/tasks', { body: { userId, agentId } });
  expect(started.status).toBe(201);
  const taskId = started.body.taskId as string;
  expect((await callOn(a.baseUrl, taskId)).decision).toBe('allow'); // the workflow grants it
  expect((await callOn(b.baseUrl, taskId)).decision).toBe('allow'); // B loads the view
  const before = countQueries(b.db);
  expect((await callOn(b.baseUrl, taskId)).decision).toBe('allow');
  // From memory: no read of the task, its grants, the person or the agent (only the trace batch writes).
  expect(before.reads()).toEqual([]);
  return taskId;
}

/** Records the reads B's pool makes from now on (transactions of the trace batch are not reads). */
function countQueries(db: PgClient) {
  const seen: string[] = [];
  const original = db.query.bind(db);
  db.query = (async (text: string, params?: unknown[]) => {
    seen.push(text);
    return original(text, params);
  }) as PgClient['query'];
  return {
    reads: () => {
      db.query = original;
      return seen.filter((t) => /from (tasks|grants|users|agents|credential_refs)\b/i.test(t));
    },
  };
}

/** Calls on B until denied; returns how long after `since` the first deny came. */
async function deniedOnBWithin(taskId: string, since: number): Promise<{ ms: number; reason?: string }> {
  for (;;) {
    const r = await callOn(b.baseUrl, taskId);
    if (r.decision === 'deny') return { ms: Date.now() - since, reason: r.reason?.code };
    expect(Date.now() - since).toBeLessThan(1000);
  }
}

describe('two API replicas', () => {
  it('the kill switch answered by A is honoured by B within 1 s, and by A on its very next call', async () => {
    const person = await createPerson(a);
    const taskId = await taskCachedOnB(person.id, await createAgent(a, person.id));
    const revoked = await a.request('POST', `/v1/tasks/${taskId}/revoke`, { token: TOKENS.admin, body: { reason: 'suspected prompt injection' } });
    expect(revoked.status).toBe(200);
    const answeredAt = Date.now();
    expect(await callOn(a.baseUrl, taskId)).toMatchObject({ decision: 'deny', reason: { code: 'task_not_active' } });
    const onB = await deniedOnBWithin(taskId, answeredAt);
    expect(onB.reason).toBe('task_not_active');
    expect(onB.ms).toBeLessThan(1000);
  });

  it('an offboarding through SCIM on A is honoured by B within 1 s', async () => {
    const person = await createPerson(a);
    const taskId = await taskCachedOnB(person.id, await createAgent(a, person.id));
    const patched = await scim(a, 'PATCH', `/Users/${person.id}`, patchOps({ op: 'replace', path: 'active', value: false }));
    expect(patched.status).toBe(200);
    const answeredAt = Date.now();
    expect((await callOn(a.baseUrl, taskId)).decision).toBe('deny');
    const onB = await deniedOnBWithin(taskId, answeredAt);
    expect(['user_inactive', 'task_not_active']).toContain(onB.reason);
    expect(onB.ms).toBeLessThan(1000);
  });

  it('a task ended through B is denied by A on its next call', async () => {
    const person = await createPerson(a);
    const taskId = await taskCachedOnB(person.id, await createAgent(a, person.id));
    expect((await callOn(a.baseUrl, taskId)).decision).toBe('allow'); // A has the view cached too
    const ended = await requestTo(b.baseUrl)('POST', `/v1/tasks/${taskId}/end`);
    expect(ended.status).toBe(200);
    const answeredAt = Date.now();
    expect((await callOn(b.baseUrl, taskId)).decision).toBe('deny');
    for (;;) {
      const r = await callOn(a.baseUrl, taskId);
      if (r.decision === 'deny') break;
      expect(Date.now() - answeredAt).toBeLessThan(1000);
    }
  });
});
