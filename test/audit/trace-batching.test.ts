// What the trace store's batch does besides chaining, on both engines: a call the workflow holds (an
// escalation recorded for its callId) is answered by that escalation under `unlessHeld`; a new
// record's session count and `within` writes happen exactly once, in its transaction, never for a
// repeated call; a caller-chosen traceId marks only a fresh record; a batch that waited for the
// chain head sees what its previous holder committed; and session counters stay exact under many
// concurrent appends from two writers, each item's `after` being the session as of its own call.
import { randomUUID } from 'node:crypto';
import { Client } from 'pg';
import { link } from '../../src/audit/chain';
import { StaleContext, TRACE_COLUMNS, TraceStore, type AppendOptions } from '../../src/audit/trace-store';
import type { TraceEntry, TraceRecord } from '../../src/audit/trace-types';
import { PgClient } from '../../src/db/pg-client';
import type { SqlClient } from '../../src/db/sql';
import type { SessionCall, SessionIncrement } from '../../src/policy/session';
import { TaskRepository } from '../../src/tasks/task-repository';
import { ENGINES, testDatabase, type TestDatabase } from '../support/databases';

const decision = (taskId: string, callId: string, traceId?: string): TraceEntry => ({ kind: 'decision', body: { taskId, callId, decision: 'allow' }, traceId });

/** An active task, of an active person and agent (created when missing). */
async function insertTask(db: SqlClient, taskId: string, { userId = 'alice', agentId = 'agent' } = {}): Promise<void> {
  await db.query('insert into users (id, user_name) values ($1, $1) on conflict do nothing', [userId]);
  await db.query('insert into agents (id, name, owner_id) values ($1, $1, $2) on conflict do nothing', [agentId, userId]);
  await db.query(
    `insert into tasks (task_id, tenant, user_id, agent_id, status, workflow_id, expires_at)
     values ($1, 'default', $2, $3, 'active', $1, now() + interval '1 hour')`,
    [taskId, userId, agentId],
  );
}

/** Counts each append's call into `taskId`'s session, keeping the items to read their `after`. */
function counting(taskId: string) {
  const items: SessionIncrement[] = [];
  const opts = (): AppendOptions => {
    const item: SessionIncrement = { taskId, call: { toolId: 'github.read', appId: 'github', action: 'Read', dataClassification: 'internal' } };
    items.push(item);
    return { session: item };
  };
  return { items, opts };
}

describe.each(ENGINES)('trace batching on %s', (engine) => {
  let tdb: TestDatabase;
  let store: TraceStore;
  let t: string; // a fresh task id per test: decisions are unique per (task, call) across tenants
  beforeAll(async () => {
    tdb = await testDatabase(engine);
    store = new TraceStore(tdb.db, 'default');
  });
  beforeEach(() => {
    t = `t-${randomUUID()}`;
  });
  afterAll(async () => {
    await tdb?.drop();
  });

  const callsCounted = async (taskId: string) =>
    (await tdb.db.query<{ session: { calls?: number } }>('select session from tasks where task_id = $1', [taskId]))[0].session.calls ?? 0;

  const rowsOf = (taskId: string, callId: string) =>
    tdb.db.query<{ kind: string; trace_id: string }>('select kind, trace_id from decision_traces where task_id = $1 and call_id = $2 order by seq', [
      taskId,
      callId,
    ]);

  describe('unlessHeld', () => {
    it('answers a held call with its escalation and writes no decision, nor anything joined to it', async () => {
      await insertTask(tdb.db, t);
      const escalation = await store.append({ kind: 'escalation', body: { taskId: t, callId: 'c1', decision: 'escalate', approvalId: 'ap-1' } });
      const { items, opts } = counting(t);
      let within = 0;
      const answer = await store.append(decision(t, 'c1', 'mine'), { ...opts(), within: async () => void within++, unlessHeld: true });
      expect(answer).toEqual(escalation);
      expect(await rowsOf(t, 'c1')).toEqual([{ kind: 'escalation', trace_id: escalation.traceId }]);
      expect(await callsCounted(t)).toBe(0);
      expect(items[0].after).toBeUndefined();
      expect(within).toBe(0);
    });

    it('answers a held call with its escalation also when it shares a batch with new calls', async () => {
      await insertTask(tdb.db, t);
      const escalation = await store.append({ kind: 'escalation', body: { taskId: t, callId: 'held', decision: 'escalate' } });
      const { items, opts } = counting(t);
      const [a, held, b] = await Promise.all([
        store.append(decision(t, 'a'), { ...opts(), unlessHeld: true }),
        store.append(decision(t, 'held'), { ...opts(), unlessHeld: true }),
        store.append(decision(t, 'b'), { ...opts(), unlessHeld: true }),
      ]);
      expect(held).toEqual(escalation);
      expect([a.kind, b.kind]).toEqual(['decision', 'decision']);
      expect(items.map((i) => i.after?.calls)).toEqual([1, undefined, 2]);
      expect(await callsCounted(t)).toBe(2);
      expect(await rowsOf(t, 'held')).toEqual([{ kind: 'escalation', trace_id: escalation.traceId }]);
    });

    it('answers a call with the escalation recorded earlier in the same batch', async () => {
      const [escalation, answer] = await Promise.all([
        store.append({ kind: 'escalation', body: { taskId: t, callId: 'same-batch', decision: 'escalate' } }),
        store.append(decision(t, 'same-batch', 'mine'), { unlessHeld: true }),
      ]);
      expect(answer).toEqual(escalation);
      expect(await rowsOf(t, 'same-batch')).toEqual([{ kind: 'escalation', trace_id: escalation.traceId }]);
    });

    it('without it, decides a held call (the workflow resolving its own escalation)', async () => {
      const escalation = await store.append({ kind: 'escalation', body: { taskId: t, callId: 'c1', decision: 'escalate' } });
      const decided = await store.append(decision(t, 'c1'));
      expect(decided).toMatchObject({ kind: 'decision', body: { callId: 'c1', decision: 'allow' } });
      expect(decided.seq).toBeGreaterThan(escalation.seq);
      expect((await rowsOf(t, 'c1')).map((r) => r.kind)).toEqual(['escalation', 'decision']);
      // Once decided, the decision wins over the escalation, with or without unlessHeld.
      expect(await store.append(decision(t, 'c1'), { unlessHeld: true })).toEqual(decided);
      expect(await store.findCall(t, 'c1')).toEqual(decided);
    });

    it('decides a call that nothing holds', async () => {
      const decided = await store.append(decision(t, 'free'), { unlessHeld: true });
      expect(decided).toMatchObject({ kind: 'decision', body: { callId: 'free' } });
      expect(await rowsOf(t, 'free')).toEqual([{ kind: 'decision', trace_id: decided.traceId }]);
    });
  });

  describe('fence (an allow decided from a context read before the batch)', () => {
    const grantTool = (taskId: string) =>
      tdb.db.query("insert into grants (task_id, tool_id, app_id, via) values ($1, 'github.read', 'github', 'policy')", [taskId]);

    it('records an allow whose grant is live, and leaves out, uncounted, one whose grant was revoked or whose task ended', async () => {
      const [live, revoked, ended] = [t, `t-${randomUUID()}`, `t-${randomUUID()}`];
      for (const taskId of [live, revoked, ended]) {
        await insertTask(tdb.db, taskId);
        await grantTool(taskId);
      }
      await tdb.db.query("update grants set revoked_at = now() where task_id = $1", [revoked]);
      await tdb.db.query("update tasks set status = 'ended' where task_id = $1", [ended]);
      const fenced = (taskId: string) => ({ ...counting(taskId).opts(), fence: 'github.read' });

      // One batch: the stale items fail alone, their neighbours chain on without a gap.
      const [kept, lost, gone, unfenced] = await Promise.allSettled([
        store.append(decision(live, 'c1'), fenced(live)),
        store.append(decision(revoked, 'c1'), fenced(revoked)),
        store.append(decision(ended, 'c1'), fenced(ended)),
        store.append(decision(live, 'c2')),
      ]);
      expect([lost, gone].map((r) => (r.status === 'rejected' ? r.reason : r.value))).toEqual([expect.any(StaleContext), expect.any(StaleContext)]);
      expect((lost as PromiseRejectedResult).reason).toMatchObject({ taskId: revoked, toolId: 'github.read' });
      const records = [kept, unfenced].map((r) => (r as PromiseFulfilledResult<TraceRecord>).value);
      expect(records[1].seq).toBe(records[0].seq + 1);
      expect(records[1].prevHash).toBe(records[0].hash);
      expect(await rowsOf(revoked, 'c1')).toEqual([]);
      expect(await rowsOf(ended, 'c1')).toEqual([]);
      expect([await callsCounted(live), await callsCounted(revoked), await callsCounted(ended)]).toEqual([1, 0, 0]);
      expect((await store.verify()).ok).toBe(true);
    });

    it("leaves out an allow whose person was offboarded, or whose agent was deactivated or orphaned, after its context was read", async () => {
      const [offboarded, inactive, orphaned] = [`t-${randomUUID()}`, `t-${randomUUID()}`, `t-${randomUUID()}`];
      const [person, agentA, agentB] = [`p-${randomUUID()}`, `a-${randomUUID()}`, `a-${randomUUID()}`];
      await insertTask(tdb.db, t);
      await insertTask(tdb.db, offboarded, { userId: person });
      await insertTask(tdb.db, inactive, { agentId: agentA });
      await insertTask(tdb.db, orphaned, { agentId: agentB });
      for (const taskId of [t, offboarded, inactive, orphaned]) await grantTool(taskId);
      await tdb.db.query('update users set active = false where id = $1', [person]);
      await tdb.db.query('update agents set active = false where id = $1', [agentA]);
      await tdb.db.query('update agents set orphaned = true where id = $1', [agentB]);
      const fenced = (taskId: string) => ({ ...counting(taskId).opts(), fence: 'github.read' });

      const settled = await Promise.allSettled([t, offboarded, inactive, orphaned].map((taskId) => store.append(decision(taskId, 'c1'), fenced(taskId))));
      expect(settled.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'rejected', 'rejected']);
      expect(settled.slice(1).map((r) => (r as PromiseRejectedResult).reason)).toEqual([expect.any(StaleContext), expect.any(StaleContext), expect.any(StaleContext)]);
      for (const taskId of [offboarded, inactive, orphaned]) {
        expect(await rowsOf(taskId, 'c1')).toEqual([]);
        expect(await callsCounted(taskId)).toBe(0);
      }
      expect(await callsCounted(t)).toBe(1);
    });

    it('answers a fenced call already decided with its decision, whatever the grant is now', async () => {
      await insertTask(tdb.db, t);
      await grantTool(t);
      const first = await store.append(decision(t, 'c1'), { fence: 'github.read' });
      await tdb.db.query('update grants set revoked_at = now() where task_id = $1', [t]);
      expect(await store.append(decision(t, 'c1'), { fence: 'github.read' })).toEqual(first);
    });
  });

  describe('session counts and joined writes', () => {
    it('group-commits concurrent appends, counting every call once, in chain order', async () => {
      await insertTask(tdb.db, t);
      const n = 100;
      const { items, opts } = counting(t);
      const commits: number[] = [];
      const unsubscribe = store.onCommit((c) => commits.push(c.records));
      try {
        const records = await Promise.all(Array.from({ length: n }, (_, i) => store.append(decision(t, `c${i}`), opts())));
        expect(new Set(records.map((r) => r.seq)).size).toBe(n);
        // Each call's position in its session follows its position in the chain.
        const bySeq = records.map((r, i) => [r.seq, items[i].after!.calls]).sort((x, y) => x[0] - y[0]);
        expect(bySeq.map(([, calls]) => calls)).toEqual(Array.from({ length: n }, (_, i) => i + 1));
      } finally {
        unsubscribe();
      }
      expect(commits.length).toBeLessThanOrEqual(n / 10);
      expect(await callsCounted(t)).toBe(n);
    });

    it('run in the transaction of its records: a failing write leaves no trace, nor any of its effects', async () => {
      await insertTask(tdb.db, t);
      const { opts } = counting(t);
      const joined: string[] = [];
      const write = (callId: string) => async (tx: SqlClient) => {
        await tx.query("update tasks set purpose = coalesce(purpose, '') || $2 where task_id = $1", [t, `${callId};`]);
        joined.push(callId);
        if (callId === 'bad') throw new Error('joined write failed');
      };
      const [good, bad] = await Promise.allSettled([
        store.append(decision(t, 'good'), { ...opts(), within: write('good') }),
        store.append(decision(t, 'bad'), { ...opts(), within: write('bad') }),
      ]);
      // The batch failed as a whole; retried one by one, only the bad item fails.
      expect(good.status).toBe('fulfilled');
      expect(bad).toMatchObject({ status: 'rejected', reason: new Error('joined write failed') });
      expect(joined).toEqual(['good', 'bad', 'good', 'bad']);
      expect(await rowsOf(t, 'bad')).toEqual([]);
      expect((await tdb.db.query('select purpose from tasks where task_id = $1', [t]))[0]).toEqual({ purpose: 'good;' });
      expect(await callsCounted(t)).toBe(1);
      expect(await store.verify()).toMatchObject({ ok: true });
    });

    it("keeps appending after a new tenant's first batch is rolled back", async () => {
      // The first batch of a tenant also creates its chain head row; a failure rolls that back too.
      const first = new TraceStore(tdb.db, `first-${t}`);
      const [good, bad] = await Promise.allSettled([
        first.append(decision(t, 'good')),
        first.append(decision(t, 'bad'), { within: () => Promise.reject(new Error('joined write failed')) }),
      ]);
      expect(bad).toMatchObject({ status: 'rejected', reason: new Error('joined write failed') });
      expect(good).toMatchObject({ status: 'fulfilled', value: { seq: 1 } });
      await expect(first.append(decision(t, 'later'))).resolves.toMatchObject({ seq: 2 });
      expect(await first.verify()).toEqual({ ok: true, checked: 2 });
    });

    it('count and write nothing for a call already decided, alone or beside new calls', async () => {
      await insertTask(tdb.db, t);
      const { items, opts } = counting(t);
      let within = 0;
      const joined = () => ({ ...opts(), within: async () => void within++ });
      const first = await store.append(decision(t, 'dup'), joined());
      expect([items[0].after?.calls, within]).toEqual([1, 1]);

      const [again, fresh] = await Promise.all([store.append(decision(t, 'dup'), joined()), store.append(decision(t, 'x'), joined())]);
      expect(again).toEqual(first);
      expect(fresh.body.callId).toBe('x');
      expect([items[1].after, items[2].after?.calls, within]).toEqual([undefined, 2, 2]);

      expect(await store.append(decision(t, 'dup'), joined())).toEqual(first);
      expect([items[3].after, within]).toEqual([undefined, 2]);
      expect((await rowsOf(t, 'dup')).length).toBe(1);
      expect(await callsCounted(t)).toBe(2);
    });

    it('count only the first when one batch holds the same call twice', async () => {
      await insertTask(tdb.db, t);
      const { items, opts } = counting(t);
      const [a, b] = await Promise.all([store.append(decision(t, 'twice'), opts()), store.append(decision(t, 'twice'), opts())]);
      expect(b).toEqual(a);
      expect(items.map((i) => i.after?.calls)).toEqual([1, undefined]);
      expect((await rowsOf(t, 'twice')).length).toBe(1);
      expect(await callsCounted(t)).toBe(1);
    });

    it("count nothing for a task that does not exist, and still record the call", async () => {
      const { items, opts } = counting(`missing-${t}`);
      const record = await store.append(decision(t, 'orphan'), opts());
      expect(record).toMatchObject({ kind: 'decision', body: { callId: 'orphan' } });
      expect(items[0].after).toBeUndefined();
    });
  });

  describe('a batch that waited for the chain head (PostgreSQL: another connection held it)', () => {
    /**
     * Another replica holds the tenant's chain head and records `entries`; meanwhile `appends`
     * start here and wait for the head; once they wait, the other replica commits.
     */
    async function whileAnotherHoldsTheHead(store: TraceStore, entries: TraceEntry[], appends: () => Promise<TraceRecord>[]) {
      const tenant = store.tenant;
      const other = new Client({ connectionString: tdb.url });
      await other.connect();
      try {
        await other.query('begin');
        const { rows } = await other.query<{ seq: string; hash: string }>('select seq, hash from trace_chain_heads where tenant = $1 for update', [tenant]);
        let prev = { seq: Number(rows[0].seq), hash: rows[0].hash };
        const theirs: TraceRecord[] = [];
        for (const e of entries) {
          const r = link(prev, { tenant, traceId: randomUUID(), kind: e.kind, occurredAt: new Date().toISOString(), body: e.body }) as TraceRecord;
          await other.query(`insert into decision_traces (${TRACE_COLUMNS}) values ($1, $2, $3, $4, $5, $6, $7, $8)`, [
            r.tenant,
            r.seq,
            r.traceId,
            r.kind,
            r.occurredAt,
            JSON.stringify(r.body),
            r.prevHash,
            r.hash,
          ]);
          theirs.push(r);
          prev = r;
        }
        await other.query('update trace_chain_heads set seq = $2, hash = $3 where tenant = $1', [tenant, prev.seq, prev.hash]);
        const pending = Promise.all(appends());
        for (let waiting = 0; !waiting; ) {
          await new Promise((r) => setTimeout(r, 20));
          const [row] = await tdb.db.query<{ n: number }>(
            "select count(*)::int as n from pg_stat_activity where datname = current_database() and wait_event_type = 'Lock' and query like '%select trace_batch_append%'",
          );
          waiting = row.n;
        }
        await other.query('commit');
        return { theirs, mine: await pending };
      } finally {
        await other.end();
      }
    }

    it('answers a call with the escalation committed meanwhile', async () => {
      if (engine !== 'postgres') return; // PGlite: one connection, no other holder
      const store = new TraceStore(tdb.db, `wait-${t}`);
      await store.append({ kind: 'task', body: { note: 'chain start' } });
      const { theirs, mine } = await whileAnotherHoldsTheHead(store, [{ kind: 'escalation', body: { taskId: t, callId: 'held', decision: 'escalate' } }], () => [
        store.append(decision(t, 'held'), { unlessHeld: true }),
        store.append(decision(t, 'free'), { unlessHeld: true }),
      ]);
      expect(mine[0]).toEqual(theirs[0]);
      expect(mine[1]).toMatchObject({ kind: 'decision', seq: theirs[0].seq + 1, prevHash: theirs[0].hash });
      expect((await rowsOf(t, 'held')).map((r) => r.kind)).toEqual(['escalation']);
      expect(await store.verify()).toEqual({ ok: true, checked: 3 });
    });

    it('answers a call with the decision committed meanwhile, in the batch itself (not by failing it and retrying one by one)', async () => {
      if (engine !== 'postgres') return;
      const store = new TraceStore(tdb.db, `wait-${t}`);
      await store.append({ kind: 'task', body: { note: 'chain start' } });
      await insertTask(tdb.db, t);
      const { items, opts } = counting(t);
      const { theirs, mine } = await whileAnotherHoldsTheHead(store, [{ kind: 'decision', body: { taskId: t, callId: 'decided', decision: 'deny' } }], () => [
        store.append(decision(t, 'decided'), opts()),
        store.append(decision(t, 'free'), opts()),
      ]);
      expect(mine[0]).toEqual(theirs[0]);
      expect(items.map((i) => i.after?.calls)).toEqual([undefined, 1]);
      expect(await store.verify()).toEqual({ ok: true, checked: 3 });
    });
  });

  describe('caller-chosen traceId', () => {
    it('names a fresh record, and tells the caller a repeated call was answered by an earlier one', async () => {
      const mine = `mine-${randomUUID()}`;
      const fresh = await store.append(decision(t, 'c1', mine));
      expect(fresh.traceId).toBe(mine);
      expect(await store.get(mine)).toEqual(fresh);

      const theirs = `theirs-${randomUUID()}`;
      const repeated = await store.append(decision(t, 'c1', theirs));
      expect(repeated.traceId).toBe(mine);
      expect(await store.get(theirs)).toBeUndefined();

      // In one batch: the first caller's id is used, the second caller learns it was not theirs.
      const [x, y] = await Promise.all([store.append(decision(t, 'c2', 'x-' + mine)), store.append(decision(t, 'c2', 'y-' + mine))]);
      expect([x.traceId, y.traceId]).toEqual(['x-' + mine, 'x-' + mine]);
      expect(await store.get('y-' + mine)).toBeUndefined();
    });

    it('is not used when a held call is answered by its escalation', async () => {
      const escalation = await store.append({ kind: 'escalation', body: { taskId: t, callId: 'h' } });
      const mine = `mine-${randomUUID()}`;
      expect((await store.append(decision(t, 'h', mine), { unlessHeld: true })).traceId).toBe(escalation.traceId);
      expect(await store.get(mine)).toBeUndefined();
    });

    it('is random when omitted', async () => {
      const [a, b] = await Promise.all([store.append(decision(t, 'a')), store.append(decision(t, 'b'))]);
      expect(a.traceId).not.toBe(b.traceId);
      expect(a.traceId).toMatch(/^[0-9a-f-]{36}$/);
    });
  });

  describe('session counters', () => {
    it('count a call as SessionState says: one more call, of its action, tool and app; a data classification the first time it is read', async () => {
      const count = async (session: object, call: object) =>
        (await tdb.db.query<{ s: object }>('select task_session_record_call($1::jsonb, $2::jsonb) as s', [JSON.stringify(session), JSON.stringify(call)]))[0].s;
      const read = { toolId: 'crm.read', appId: 'crm', action: 'Read', dataClassification: 'customer' };
      const empty = { calls: 0, actions: { Read: 0, Write: 0, Destructive: 0, External: 0 }, tools: {}, apps: {}, dataClassificationsRead: [] };
      // A task row's '{}' is the empty session.
      const once = await count({}, read);
      expect(once).toEqual({ ...empty, calls: 1, actions: { ...empty.actions, Read: 1 }, tools: { 'crm.read': 1 }, apps: { crm: 1 }, dataClassificationsRead: ['customer'] });
      const twice = await count(once, { ...read, toolId: 'crm.search' });
      expect(twice).toEqual({ ...empty, calls: 2, actions: { ...empty.actions, Read: 2 }, tools: { 'crm.read': 1, 'crm.search': 1 }, apps: { crm: 2 }, dataClassificationsRead: ['customer'] });
      // Only reads add a classification, an empty one never, and each one once, in the order first read.
      const written = await count(twice, { toolId: 'hr.write', appId: 'hr', action: 'Write', dataClassification: 'restricted' });
      expect(written).toMatchObject({ calls: 3, actions: { Read: 2, Write: 1 }, apps: { crm: 2, hr: 1 }, dataClassificationsRead: ['customer'] });
      const unclassified = await count(written, { toolId: 'wiki.read', appId: 'wiki', action: 'Read', dataClassification: '' });
      expect(unclassified).toMatchObject({ calls: 4, actions: { Read: 3 }, dataClassificationsRead: ['customer'] });
      const internal = await count(unclassified, { toolId: 'wiki.read', appId: 'wiki', action: 'Read', dataClassification: 'internal' });
      expect(internal).toMatchObject({ calls: 5, tools: { 'wiki.read': 2 }, dataClassificationsRead: ['customer', 'internal'] });
      // A stored session missing some counters (an older row) gains them.
      expect(await count({ calls: 7, tools: { x: 1 } }, { toolId: 'x', appId: 'a', action: 'Destructive' })).toEqual({
        ...empty,
        calls: 8,
        actions: { ...empty.actions, Destructive: 1 },
        tools: { x: 2 },
        apps: { a: 1 },
      });
    });

    it('are given to their own items when the batch also holds calls that count nothing', async () => {
      const [a, b] = [`${t}-a`, `${t}-b`];
      for (const id of [a, b]) await insertTask(tdb.db, id);
      const call: SessionCall = { toolId: 'github.read', appId: 'github', action: 'Read' };
      for (let i = 0; i < 3; i++) await store.append(decision(a, `before-${i}`), { session: { taskId: a, call } });
      // A denied call first (nothing to count), then calls of two tasks whose sessions differ.
      const items: SessionIncrement[] = [a, b].map((taskId) => ({ taskId, call }));
      await Promise.all([
        store.append({ kind: 'decision', body: { taskId: b, callId: 'denied', decision: 'deny' } }),
        ...items.map((item, i) => store.append(decision(item.taskId, `after-${i}`), { session: item })),
      ]);
      expect(items.map((i) => [i.taskId, i.after?.calls])).toEqual([
        [a, 4],
        [b, 1],
      ]);
    });

    it('count every allowed call exactly under concurrent appends from two writers, each item seeing its own position', async () => {
      // Two writers on different tenants (different chain heads, so their transactions really
      // overlap on PostgreSQL) over two clients where the engine has more than one connection.
      const second = engine === 'postgres' ? PgClient.open(tdb.url!) : tdb.db;
      try {
        const writers = [new TraceStore(tdb.db, `sessions-a-${t}`), new TraceStore(second, `sessions-b-${t}`)];
        const repos = [new TaskRepository(tdb.db), new TaskRepository(second)];
        // Each chain started first: a tenant's first batch failing is another test's subject (above).
        for (const w of writers) await w.append({ kind: 'task', body: { note: 'chain start' } });
        const taskIds = [`${t}-1`, `${t}-2`, `${t}-3`];
        for (const id of taskIds) await insertTask(tdb.db, id);
        const perTask = 120; // 360 appends in all: more than one batch (200) per writer
        const appended: { item: SessionIncrement; record: TraceRecord; writer: number; fresh: boolean }[] = [];
        const toolOf = (i: number) => (i % 3 ? 'github.read' : 'github.search');

        /** As DecisionService.commit does for an allowed call: its own traceId tells it whether its item was counted. */
        const commit = async (writer: number, taskId: string, i: number) => {
          const item: SessionIncrement = { taskId, call: { toolId: toolOf(i), appId: 'github', action: 'Read', dataClassification: 'internal' } };
          const traceId = randomUUID();
          const record = await writers[writer].append(decision(taskId, `c${i}`, traceId), { session: item });
          appended.push({ item, record, writer, fresh: record.traceId === traceId });
        };

        // Waves over several turns of the event loop, so batches of both writers interleave.
        const pending: Promise<void>[] = [];
        for (let i = 0; i < perTask; i++) {
          for (const [k, taskId] of taskIds.entries()) pending.push(commit((i + k) % 2, taskId, i));
          if (i % 25 === 24) await new Promise((r) => setImmediate(r));
        }
        // The same calls again (a gateway's retries, some through the other writer): never counted twice.
        for (const taskId of taskIds) for (let i = 0; i < 10; i++) pending.push(commit(i % 2, taskId, i));
        await Promise.all(pending);

        for (const taskId of taskIds) {
          const [row] = await tdb.db.query<{ session: { calls: number; tools: Record<string, number>; actions: Record<string, number> } }>(
            'select session from tasks where task_id = $1',
            [taskId],
          );
          expect(row.session.calls).toBe(perTask);
          expect(row.session.actions.Read).toBe(perTask);
          expect(row.session.tools).toEqual({ 'github.search': perTask / 3, 'github.read': (perTask * 2) / 3 });
          expect((await repos[0].get(taskId))!.session).toMatchObject({ calls: perTask, dataClassificationsRead: ['internal'] });

          const mine = appended.filter((a) => a.item.taskId === taskId);
          const fresh = mine.filter((a) => a.fresh);
          // One fresh record per call; a repeat got that record back.
          expect(fresh.map((a) => a.record.body.callId).sort()).toEqual(Array.from({ length: perTask }, (_, i) => `c${i}`).sort());
          for (const a of mine.filter((m) => !m.fresh)) expect(fresh.find((f) => f.record.body.callId === a.record.body.callId)?.record).toEqual(a.record);
          // Every position 1..perTask taken by exactly one call.
          expect(fresh.map((a) => a.item.after!.calls).sort((a, b) => a - b)).toEqual(Array.from({ length: perTask }, (_, i) => i + 1));
          // Within a writer's chain, a later record saw a later position.
          for (const w of [0, 1]) {
            const positions = fresh
              .filter((a) => a.writer === w)
              .sort((a, b) => a.record.seq - b.record.seq)
              .map((a) => a.item.after!.calls);
            expect(positions).toEqual([...positions].sort((a, b) => a - b));
          }
          // `after` is the session with this very call in it.
          for (const a of fresh) {
            const { after, call } = a.item;
            expect(after!.actions.Read).toBe(after!.calls);
            expect((after!.tools['github.read'] ?? 0) + (after!.tools['github.search'] ?? 0)).toBe(after!.calls);
            expect(after!.tools[call.toolId]).toBeGreaterThan(0);
          }
        }
        for (const w of writers) expect((await w.verify()).ok).toBe(true);
      } finally {
        if (second !== tdb.db) await second.close();
      }
    });
  });
});

describe.each(ENGINES)("the group commit's functions on %s", (engine) => {
  let tdb: TestDatabase;
  beforeAll(async () => {
    tdb = await testDatabase(engine); // empty tables: the size at which their plans get cached
  });
  afterAll(async () => {
    await tdb?.drop();
  });

  // Their statements are planned once per connection (migration 013); a plan made now, on empty
  // tables, must still read by index when the tables have grown.
  it('price sequential scans out and keep one generic plan, which, made on empty tables, reads by index', async () => {
    const functions = ['trace_batch_append'];
    const config = await tdb.db.query<{ proname: string; proconfig: string[] | null }>(
      'select proname, proconfig from pg_proc where proname = any($1::text[]) order by proname',
      [functions],
    );
    expect(config.map((c) => [c.proname, c.proconfig])).toEqual([...functions].sort().map((f) => [f, ['enable_seqscan=off', 'plan_cache_mode=force_generic_plan']]));

    const genericPlan = (sql: string, types: string, args: string) =>
      tdb.db.transaction(async (tx) => {
        await tx.query('set local enable_seqscan = off');
        await tx.query('set local plan_cache_mode = force_generic_plan');
        await tx.query(`prepare p${types.length} (${types}) as ${sql}`);
        try {
          return (await tx.query<{ 'QUERY PLAN': string }>(`explain execute p${types.length} (${args})`)).map((r) => r['QUERY PLAN']).join('\n');
        } finally {
          await tx.query(`deallocate p${types.length}`);
        }
      });
    const calls = await genericPlan(
      `select * from decision_traces where kind in ('decision', 'escalation') and (task_id, call_id) in (select * from unnest($1, $2))`,
      'text[], text[]',
      `'{t}', '{c}'`,
    );
    expect(calls).toMatch(/Index Scan (using|on) decision_traces_call /);
    expect(calls).not.toMatch(/Seq Scan/);
    const sessions = await genericPlan('select task_id, session from tasks where task_id = any($1) order by task_id for update', 'text[]', `'{t}'`);
    expect(sessions).toMatch(/Index Scan (using|on) tasks_pkey /);
    expect(sessions).not.toMatch(/Seq Scan/);
    const write = await genericPlan(
      'update tasks t set session = v.s from unnest($1, $2, $3) as v(task_id, s, dirty) where v.dirty and t.task_id = v.task_id',
      'text[], jsonb[], boolean[]',
      `'{t}', array['{}'::jsonb], '{t}'`,
    );
    expect(write).toMatch(/Index Scan (using|on) tasks_pkey /);
    expect(write).not.toMatch(/Seq Scan/);
  });
});
