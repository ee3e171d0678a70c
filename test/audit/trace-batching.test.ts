// What the trace store's batch does besides chaining, on both engines: a call the workflow holds (an
// escalation recorded for its callId) is answered by that escalation under `unlessHeld`; `batched`
// writes run once per batch and key with each new record's item exactly once (never a repeated
// call's), reading every item's rows with the chain head and writing the new ones with the
// records; a caller-chosen traceId marks only a fresh record; a batch that waited for the chain
// head sees what its previous holder committed; and session counters written through
// TaskRepository.sessionCounters stay exact under many concurrent appends from two writers, each
// item's `after` being the session as of its own call.
import { randomUUID } from 'node:crypto';
import { Client } from 'pg';
import { link } from '../../src/audit/chain';
import { TRACE_COLUMNS, TraceStore, type AppendOptions, type StagedWrite } from '../../src/audit/trace-store';
import type { TraceEntry, TraceRecord } from '../../src/audit/trace-types';
import { PgClient } from '../../src/db/pg-client';
import type { SqlClient } from '../../src/db/sql';
import { TaskRepository, type SessionIncrement } from '../../src/tasks/task-repository';
import { ENGINES, testDatabase, type TestDatabase } from '../support/databases';

const decision = (taskId: string, callId: string, traceId?: string): TraceEntry => ({ kind: 'decision', body: { taskId, callId, decision: 'allow' }, traceId });

/**
 * A staged write that records what it was called with: its read returns the batch's items (as the
 * database echoes them back), its write, given `fail`, makes the batch's write statement fail.
 */
function recordingStaged(key = 's') {
  const reads: string[][] = [];
  const writes: { read: unknown; items: string[] }[] = [];
  const staged: StagedWrite<string, string[]> = {
    read: (items, param) => {
      reads.push(items);
      return `${param(JSON.stringify(items))}::jsonb`;
    },
    write: (read, items, param) => {
      writes.push({ read, items });
      // An expression that fails when the batch holds the item 'bad': the whole statement does.
      return items.includes('bad') ? `(${param('not a number')}::int)` : `${param(items.length)}::int`;
    },
  };
  const opts = (item: string): AppendOptions => ({ batched: { key, item, staged } });
  return { reads, writes, opts };
}

async function insertTask(db: SqlClient, taskId: string): Promise<void> {
  await db.query(
    `insert into tasks (task_id, tenant, user_id, agent_id, status, workflow_id, expires_at)
     values ($1, 'default', 'alice', 'agent', 'active', $1, now() + interval '1 hour')`,
    [taskId],
  );
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

  const rowsOf = (taskId: string, callId: string) =>
    tdb.db.query<{ kind: string; trace_id: string }>('select kind, trace_id from decision_traces where task_id = $1 and call_id = $2 order by seq', [
      taskId,
      callId,
    ]);

  describe('unlessHeld', () => {
    it('answers a held call with its escalation and writes no decision, nor anything joined to it', async () => {
      const escalation = await store.append({ kind: 'escalation', body: { taskId: t, callId: 'c1', decision: 'escalate', approvalId: 'ap-1' } });
      const { writes, opts } = recordingStaged();
      let within = 0;
      const answer = await store.append(decision(t, 'c1', 'mine'), { ...opts('c1'), within: async () => void within++, unlessHeld: true });
      expect(answer).toEqual(escalation);
      expect(await rowsOf(t, 'c1')).toEqual([{ kind: 'escalation', trace_id: escalation.traceId }]);
      expect(writes).toEqual([]);
      expect(within).toBe(0);
    });

    it('answers a held call with its escalation also when it shares a batch with new calls', async () => {
      const escalation = await store.append({ kind: 'escalation', body: { taskId: t, callId: 'held', decision: 'escalate' } });
      const { writes, opts } = recordingStaged();
      const [a, held, b] = await Promise.all([
        store.append(decision(t, 'a'), { ...opts('a'), unlessHeld: true }),
        store.append(decision(t, 'held'), { ...opts('held'), unlessHeld: true }),
        store.append(decision(t, 'b'), { ...opts('b'), unlessHeld: true }),
      ]);
      expect(held).toEqual(escalation);
      expect([a.kind, b.kind]).toEqual(['decision', 'decision']);
      expect(writes.map((w) => w.items)).toEqual([['a', 'b']]);
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

  describe('batched writes', () => {
    it('runs once per batch for concurrent appends of one key, with every item exactly once', async () => {
      const n = 100;
      const { writes, opts } = recordingStaged();
      const calls = Array.from({ length: n }, (_, i) => `c${i}`);
      const records = await Promise.all(calls.map((c) => store.append(decision(t, c), opts(c))));
      const invocations = writes.map((w) => w.items);
      expect(new Set(records.map((r) => r.seq)).size).toBe(n);
      expect(invocations.length).toBeGreaterThan(0);
      expect(invocations.length).toBeLessThanOrEqual(n / 10);
      expect(invocations.flat().sort()).toEqual([...calls].sort());
    });

    it('hands each key its own items, in the order the records were chained', async () => {
      const cats = recordingStaged('cats');
      const dogs = recordingStaged('dogs');
      const records = await Promise.all([
        store.append(decision(t, 'c1'), cats.opts('c1')),
        store.append(decision(t, 'd1'), dogs.opts('d1')),
        store.append(decision(t, 'c2'), cats.opts('c2')),
        store.append(decision(t, 'plain')),
        store.append(decision(t, 'd2'), dogs.opts('d2')),
      ]);
      expect(cats.writes).toEqual([{ read: ['c1', 'c2'], items: ['c1', 'c2'] }]);
      expect(dogs.writes).toEqual([{ read: ['d1', 'd2'], items: ['d1', 'd2'] }]);
      expect(records.map((r) => r.seq)).toEqual([...records.map((r) => r.seq)].sort((a, b) => a - b));
    });

    it('runs in the transaction of its records: a failing write leaves no trace, nor any of its effects', async () => {
      await insertTask(tdb.db, t);
      // Writes the items into the task's session; with the item 'bad', the statement fails after it.
      const staged: StagedWrite<string> = {
        read: () => 'null',
        write: (_read, items, param) =>
          `task_sessions_write(${param(JSON.stringify({ [t]: { items } }))})` + (items.includes('bad') ? `, ${param('not a number')}::int` : ''),
      };
      const opts = (item: string): AppendOptions => ({ batched: { key: 'k', item, staged } });
      const [good, bad] = await Promise.allSettled([store.append(decision(t, 'good'), opts('good')), store.append(decision(t, 'bad'), opts('bad'))]);
      // The batch failed as a whole; retried one by one, only the bad item fails.
      expect(good.status).toBe('fulfilled');
      expect(bad).toMatchObject({ status: 'rejected', reason: expect.objectContaining({ message: expect.stringMatching(/invalid input syntax/) }) });
      expect(await rowsOf(t, 'bad')).toEqual([]);
      expect((await tdb.db.query('select session from tasks where task_id = $1', [t]))[0]).toEqual({ session: { items: ['good'] } });
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

    it('skips the item of a call already decided, and runs no write when nothing in the batch is new', async () => {
      const { writes, opts } = recordingStaged();
      const invocations = {
        get items() {
          return writes.map((w) => w.items);
        },
        clear: () => void writes.splice(0),
      };
      const first = await store.append(decision(t, 'dup'), opts('dup#1'));
      expect(invocations.items).toEqual([['dup#1']]);
      invocations.clear();

      const [again, ...fresh] = await Promise.all([store.append(decision(t, 'dup'), opts('dup#2')), store.append(decision(t, 'x'), opts('x'))]);
      expect(again).toEqual(first);
      expect(fresh[0].body.callId).toBe('x');
      expect(invocations.items).toEqual([['x']]);
      invocations.clear();

      expect(await store.append(decision(t, 'dup'), opts('dup#3'))).toEqual(first);
      expect(invocations.items).toEqual([]);
      expect((await rowsOf(t, 'dup')).length).toBe(1);
    });

    it('passes only the first item when one batch holds the same call twice', async () => {
      const { writes, opts } = recordingStaged();
      const [a, b] = await Promise.all([store.append(decision(t, 'twice'), opts('first')), store.append(decision(t, 'twice'), opts('second'))]);
      expect(b).toEqual(a);
      expect(writes.map((w) => w.items)).toEqual([['first']]);
      expect((await rowsOf(t, 'twice')).length).toBe(1);
    });
  });

  describe('staged batched writes', () => {
    it('read every item of the batch with the chain head, then write the new records\' items in chain order', async () => {
      const first = await store.append(decision(t, 'old'));
      const { reads, writes, opts } = recordingStaged();
      const records = await Promise.all([
        store.append(decision(t, 'a'), opts('a')),
        store.append(decision(t, 'old'), opts('old')), // already decided: read with the batch, not written
        store.append(decision(t, 'b'), opts('b')),
      ]);
      expect(records[1]).toEqual(first);
      expect(reads).toEqual([['a', 'old', 'b']]);
      expect(writes).toEqual([{ read: ['a', 'old', 'b'], items: ['a', 'b'] }]);
    });

    it('write nothing when nothing in the batch is new', async () => {
      await store.append(decision(t, 'dup'));
      const { reads, writes, opts } = recordingStaged();
      await store.append(decision(t, 'dup'), opts('dup'));
      expect(reads).toEqual([['dup']]);
      expect(writes).toEqual([]);
    });

    it('fail with their batch, which is retried one by one: only the bad item fails, leaving no trace', async () => {
      const { writes, opts } = recordingStaged();
      const [good, bad] = await Promise.allSettled([store.append(decision(t, 'good'), opts('good')), store.append(decision(t, 'bad'), opts('bad'))]);
      expect(good).toMatchObject({ status: 'fulfilled', value: { body: { callId: 'good' } } });
      expect(bad).toMatchObject({ status: 'rejected', reason: expect.objectContaining({ message: expect.stringMatching(/invalid input syntax/) }) });
      expect(writes.map((w) => w.items)).toEqual([['good', 'bad'], ['good'], ['bad']]);
      expect(await rowsOf(t, 'bad')).toEqual([]);
      expect((await rowsOf(t, 'good')).length).toBe(1);
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
            "select count(*)::int as n from pg_stat_activity where datname = current_database() and wait_event_type = 'Lock' and query like '%select trace_batch_open%'",
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
      const { writes, opts } = recordingStaged();
      const { theirs, mine } = await whileAnotherHoldsTheHead(store, [{ kind: 'decision', body: { taskId: t, callId: 'decided', decision: 'deny' } }], () => [
        store.append(decision(t, 'decided'), opts('decided')),
        store.append(decision(t, 'free'), opts('free')),
      ]);
      expect(mine[0]).toEqual(theirs[0]);
      expect(writes).toEqual([{ read: ['decided', 'free'], items: ['free'] }]);
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

  describe('session counters (TaskRepository.sessionCounters)', () => {
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
          const repo = repos[writer];
          const traceId = randomUUID();
          const record = await writers[writer].append(decision(taskId, `c${i}`, traceId), {
            batched: { key: 'session', item, staged: repo.sessionCounters },
          });
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
    const functions = ['trace_batch_open', 'task_sessions_for_update', 'task_sessions_write'];
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
    const write = await genericPlan('update tasks t set session = s.value from jsonb_each($1) s where t.task_id = s.key', 'jsonb', `'{"t": {}}'`);
    expect(write).toMatch(/Index Scan (using|on) tasks_pkey /);
    expect(write).not.toMatch(/Seq Scan/);
  });
});
