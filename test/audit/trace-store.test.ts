// The Decision Trace store on both engines: append-only, hash-chained, idempotent per call.
import { TraceStore } from '../../src/audit/trace-store';
import { ENGINES, testDatabase, type TestDatabase } from '../support/databases';

describe.each(ENGINES)('trace store on %s', (engine) => {
  let tdb: TestDatabase;
  let store: TraceStore;
  beforeAll(async () => {
    tdb = await testDatabase(engine);
    store = new TraceStore(tdb.db, 'default');
  });
  afterAll(async () => {
    await tdb?.drop();
  });

  it('appends records that link into one verifiable chain', async () => {
    const a = await store.append({ kind: 'decision', body: { taskId: 't1', callId: 'c1', userId: 'alice', decision: 'allow' } });
    const b = await store.append({ kind: 'decision', body: { taskId: 't1', callId: 'c2', userId: 'alice', decision: 'deny' } });
    expect(b.seq).toBe(a.seq + 1);
    expect(b.prevHash).toBe(a.hash);
    expect(await store.get(a.traceId)).toEqual(a);
    expect(await store.verify()).toEqual({ ok: true, checked: 2 });
  });

  it('keeps the first decision of a call and writes no second row', async () => {
    const first = await store.append({ kind: 'decision', body: { taskId: 't2', callId: 'same', decision: 'allow' } });
    const [x, y] = await Promise.all([
      store.append({ kind: 'decision', body: { taskId: 't2', callId: 'same', decision: 'deny' } }),
      store.append({ kind: 'decision', body: { taskId: 't2', callId: 'same', decision: 'deny' } }),
    ]);
    expect(x).toEqual(first);
    expect(y).toEqual(first);
    const rows = await tdb.db.query("select count(*)::int as n from decision_traces where task_id = 't2'");
    expect(rows[0]).toEqual({ n: 1 });
  });

  it('refuses UPDATE, DELETE and TRUNCATE in the database itself', async () => {
    await store.append({ kind: 'decision', body: { taskId: 't3', callId: 'c', decision: 'allow' } });
    await expect(tdb.db.query("update decision_traces set kind = 'x' where task_id = 't3'")).rejects.toThrow(/append-only/);
    await expect(tdb.db.query("delete from decision_traces where task_id = 't3'")).rejects.toThrow(/append-only/);
    await expect(tdb.db.query('truncate decision_traces')).rejects.toThrow(/append-only/);
    const rows = await tdb.db.query("select kind from decision_traces where task_id = 't3'");
    expect(rows).toEqual([{ kind: 'decision' }]);
  });

  it('keeps one unbroken chain under many concurrent writers', async () => {
    const n = 300;
    const records = await Promise.all(
      Array.from({ length: n }, (_, i) => store.append({ kind: 'decision', body: { taskId: 'conc', callId: `c${i}`, decision: 'allow' } })),
    );
    expect(new Set(records.map((r) => r.seq)).size).toBe(n);
    const result = await store.verify();
    expect(result.ok).toBe(true);
  });

  it('rolls back the writes joined to a trace when they fail, without failing its neighbours', async () => {
    const good = store.append({ kind: 'decision', body: { taskId: 't4', callId: 'ok', decision: 'allow' } });
    const bad = store.append(
      { kind: 'decision', body: { taskId: 't4', callId: 'bad', decision: 'allow' } },
      { within: async (tx) => void (await tx.query('select * from no_such_table')) },
    );
    await expect(bad).rejects.toThrow();
    await expect(good).resolves.toMatchObject({ body: { callId: 'ok' } });
    expect(await store.findDecision('t4', 'bad')).toBeUndefined();
    expect((await store.verify()).ok).toBe(true);
  });
});
