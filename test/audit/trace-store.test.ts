// The Decision Trace store on both engines: append-only, hash-chained, idempotent per call.
import { randomBytes } from 'node:crypto';
import { hmacCheckpointSigner } from '../../src/audit/checkpoints';
import { TraceStore } from '../../src/audit/trace-store';
import { FilterError } from '../../src/db/filter-sql';
import type { SqlClient } from '../../src/db/sql';
import { verifyChain, type ChainRecord } from '../../src/audit/chain';
import type { TraceRecord } from '../../src/audit/trace-types';
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

  it('keeps one unbroken chain under 1,000 concurrent writers', async () => {
    const n = 1000;
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

  /** What a superuser could do: bypass the append-only trigger for one statement. */
  async function asSuperuser(sql: string, params: unknown[] = []): Promise<void> {
    await tdb.db.transaction(async (tx: SqlClient) => {
      await tx.query('set local session_replication_role = replica');
      await tx.query(sql, params);
    });
  }

  it('names the first broken record when a superuser alters a row', async () => {
    const tenant = new TraceStore(tdb.db, `tamper-${engine}`);
    const records = [];
    for (let i = 0; i < 5; i++) records.push(await tenant.append({ kind: 'decision', body: { taskId: 'tm', callId: `c${i}`, decision: 'deny' } }));
    expect(await tenant.verify()).toEqual({ ok: true, checked: 5 });
    await asSuperuser(`update decision_traces set body = jsonb_set(body, '{decision}', '"allow"') where trace_id = $1`, [records[2].traceId]);
    expect(await tenant.verify()).toMatchObject({ ok: false, checked: 2, firstBrokenId: records[2].traceId });
  });

  it('detects a truncated tail through a signed checkpoint', async () => {
    const signer = hmacCheckpointSigner(randomBytes(32));
    const tenant = new TraceStore(tdb.db, `truncate-${engine}`);
    for (let i = 0; i < 4; i++) await tenant.append({ kind: 'decision', body: { taskId: 'tr', callId: `c${i}`, decision: 'allow' } });
    expect(await tenant.checkpoint(signer)).toMatchObject({ seq: 4 });
    expect(await tenant.verifyWithCheckpoints(signer)).toMatchObject({ ok: true, checked: 4, checkpoints: 1 });
    await asSuperuser('delete from decision_traces where tenant = $1 and seq > 2', [`truncate-${engine}`]);
    expect(await tenant.verify()).toMatchObject({ ok: true, checked: 2 }); // the chain alone cannot tell
    const verdict = await tenant.verifyWithCheckpoints(signer);
    expect(verdict.ok).toBe(false);
    expect(verdict.reason).toMatch(/missing/);
  });

  it('refuses a checkpoint signed with another key', async () => {
    const tenant = new TraceStore(tdb.db, `forged-${engine}`);
    await tenant.append({ kind: 'decision', body: { taskId: 'fg', callId: 'c', decision: 'allow' } });
    await tenant.checkpoint(hmacCheckpointSigner(randomBytes(32)));
    expect(await tenant.verifyWithCheckpoints(hmacCheckpointSigner(randomBytes(32)))).toMatchObject({ ok: false, reason: expect.stringMatching(/signature/) });
  });

  it('queries with SCIM filters, dates and pagination in chain order', async () => {
    const tenant = new TraceStore(tdb.db, `query-${engine}`);
    const t0 = Date.parse('2026-05-01T00:00:00Z');
    const who = ['alice', 'bob', 'alice', 'carol', 'alice', 'alice'];
    for (const [i, userId] of who.entries()) {
      await tenant.append({
        kind: 'decision',
        occurredAt: new Date(t0 + i * 3_600_000).toISOString(),
        body: { taskId: 'q', callId: `c${i}`, userId, appId: i % 2 ? 'crm' : 'github', decision: i === 4 ? 'deny' : 'allow' },
      });
    }
    const alice = await tenant.query({ filter: 'userId eq "ALICE" and decision eq "allow"' });
    expect(alice.totalResults).toBe(3);
    expect(alice.Resources.map((r) => r.body.callId)).toEqual(['c0', 'c2', 'c5']);
    const window = await tenant.query({ filter: 'time ge "2026-05-01T02:00:00Z" and time lt "2026-05-01T04:00:00Z"' });
    expect(window.Resources.map((r) => r.body.callId)).toEqual(['c2', 'c3']);
    const either = await tenant.query({ filter: 'appId eq "crm" or decision eq "deny"', startIndex: 2, count: 2 });
    expect(either).toMatchObject({ totalResults: 4, startIndex: 2, itemsPerPage: 2 });
    expect(either.Resources.map((r) => r.body.callId)).toEqual(['c3', 'c4']);
    await expect(tenant.query({ filter: 'secret eq "x"' })).rejects.toThrow(FilterError);
  });

  it('prunes an old segment into an archive with a signed checkpoint at the cut; both halves still verify', async () => {
    const signer = hmacCheckpointSigner(randomBytes(32));
    const tenant = new TraceStore(tdb.db, `retention-${engine}`);
    for (let i = 0; i < 10; i++) await tenant.append({ kind: 'decision', body: { taskId: 'rt', callId: `c${i}`, decision: 'allow' } });
    const archived: TraceRecord[] = [];
    expect(await tenant.prune(6, signer, async (records) => void archived.push(...records))).toBe(6);
    expect(archived.map((r) => r.seq)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(verifyChain(archived as ChainRecord[])).toMatchObject({ ok: true, checked: 6 });
    expect(await tenant.verify()).toEqual({ ok: true, checked: 4 });
    expect(await tenant.verifyWithCheckpoints(signer)).toMatchObject({ ok: true, checked: 4, checkpoints: 1 });
    await tenant.append({ kind: 'decision', body: { taskId: 'rt', callId: 'after', decision: 'allow' } });
    expect(await tenant.verify()).toEqual({ ok: true, checked: 5 });
  });

  it('still refuses deletes outside a prune, and past the signed cut', async () => {
    const tenant = new TraceStore(tdb.db, `noprune-${engine}`);
    for (let i = 0; i < 3; i++) await tenant.append({ kind: 'decision', body: { taskId: 'np', callId: `c${i}`, decision: 'allow' } });
    await expect(tdb.db.query('delete from decision_traces where tenant = $1', [`noprune-${engine}`])).rejects.toThrow(/append-only/);
    await expect(
      tdb.db.transaction(async (tx: SqlClient) => {
        await tx.query("select set_config('agent_access.prune_tenant', $1, true), set_config('agent_access.prune_through', '2', true)", [`noprune-${engine}`]);
        await tx.query('delete from decision_traces where tenant = $1 and seq <= 2', [`noprune-${engine}`]);
      }),
    ).rejects.toThrow(/append-only/); // no checkpoint signs seq 2
    expect(await tenant.verify()).toEqual({ ok: true, checked: 3 });
  });
});
