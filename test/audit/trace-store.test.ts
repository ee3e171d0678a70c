// The Decision Trace store on both engines: append-only, hash-chained, idempotent per call.
import { randomBytes } from 'node:crypto';
import { hmacCheckpointSigner } from '../../src/audit/checkpoints';
import { TRACE_COLUMNS, TRACE_FILTER_COLUMNS, TraceStore } from '../../src/audit/trace-store';
import { FilterError, scimFilterToSql } from '../../src/db/filter-sql';
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

  it("wakes whoever waits for a call's decision when it commits, and no one else", async () => {
    const waiting = store.whenDecided('t-wait', 'c1');
    const cancelled = store.whenDecided('t-wait', 'c1');
    cancelled.cancel();
    let woken: TraceRecord | 'cancelled' | undefined;
    void waiting.decided.then((r) => (woken = r));
    void cancelled.decided.then(() => (woken = 'cancelled'));
    // Neither another call's decision nor this call's escalation is its decision.
    await store.append({ kind: 'decision', body: { taskId: 't-wait', callId: 'c2', decision: 'allow' } });
    await store.append({ kind: 'escalation', body: { taskId: 't-wait', callId: 'c1', decision: 'escalate' } });
    await new Promise((r) => setImmediate(r));
    expect(woken).toBeUndefined();
    const decided = await store.append({ kind: 'decision', body: { taskId: 't-wait', callId: 'c1', decision: 'allow' } });
    await expect(waiting.decided).resolves.toEqual(decided);
    expect(woken).toEqual(decided);
    // Done waiting: nothing is kept for the call.
    expect((store as unknown as { waiters: Map<string, unknown> }).waiters.size).toBe(0);
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

  it('refuses a body that has no JSON form when it is appended, alone, and records its neighbours', async () => {
    const commits: number[] = [];
    const stop = store.onCommit((c) => commits.push(c.records));
    try {
      const good = store.append({ kind: 'decision', body: { taskId: 't4b', callId: 'ok', decision: 'allow' } });
      const bad = store.append({ kind: 'decision', body: { taskId: 't4b', callId: 'nan', decision: 'allow', amount: NaN } });
      await expect(bad).rejects.toThrow();
      await expect(good).resolves.toMatchObject({ body: { callId: 'ok' } });
      // Refused before it joined a batch: one commit of the good record, no one-by-one retry.
      expect(commits).toEqual([1]);
      expect(await store.findDecision('t4b', 'nan')).toBeUndefined();
      expect((await store.verify()).ok).toBe(true);
    } finally {
      stop();
    }
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

  it('allows one decision per call in the table itself, and any number of other records of it', async () => {
    const insert = (tenant: string, seq: number, kind: string, body: Record<string, unknown>) =>
      tdb.db.query(`insert into decision_traces (${TRACE_COLUMNS}) values ($1, $2, $3, $4, now(), $5::jsonb, 'p', 'h')`, [
        tenant,
        seq,
        `${tenant}-${seq}`,
        kind,
        JSON.stringify(body),
      ]);
    const tenant = `unique-${engine}`;
    await insert(tenant, 1, 'decision', { taskId: 'u', callId: 'c' });
    await insert(tenant, 2, 'escalation', { taskId: 'u', callId: 'c' });
    await insert(tenant, 3, 'escalation', { taskId: 'u', callId: 'c' });
    await insert(tenant, 4, 'grant', { taskId: 'u', callId: 'c' });
    await insert(tenant, 5, 'decision', { taskId: 'u', callId: 'other' });
    await insert(tenant, 6, 'decision', { taskId: 'u' }); // no callId: never a duplicate
    await insert(tenant, 7, 'decision', { taskId: 'u' });
    await expect(insert(tenant, 8, 'decision', { taskId: 'u', callId: 'c' })).rejects.toThrow(/duplicate key/);
    // Across tenants too: a callId is the task's (task ids are unique).
    await expect(insert(`${tenant}-2`, 1, 'decision', { taskId: 'u', callId: 'c' })).rejects.toThrow(/duplicate key/);
  });

  it('answers every filter attribute, and reads the indexed ones (and the call lookups) through an index', async () => {
    const tenant = new TraceStore(tdb.db, `filters-${engine}`);
    const t0 = Date.parse('2026-06-01T00:00:00Z');
    const outcomes = ['allow', 'deny', 'throttle', 'escalate'];
    const records: TraceRecord[] = [];
    for (let i = 0; i < 8; i++) {
      records.push(
        await tenant.append({
          kind: i === 7 ? 'grant' : 'decision',
          occurredAt: new Date(t0 + i * 60_000).toISOString(),
          body: {
            taskId: `ft-${engine}-${i % 2}`,
            callId: `fc${i}`,
            userId: `fu${i % 3}`,
            agentId: `fa${i % 2}`,
            toolId: `tool${i % 2}`,
            appId: `app${i % 4}`,
            actionClass: i % 2 ? 'Write' : 'Read',
            decision: outcomes[i % 4],
            reasonCode: i % 4 ? `reason${i % 4}` : undefined,
            policyVersion: `v${i % 2}`,
          },
        }),
      );
    }
    const expected: [string, (r: TraceRecord) => boolean][] = [
      [`traceId eq "${records[3].traceId}"`, (r) => r.traceId === records[3].traceId],
      [`seq gt ${records[5].seq}`, (r) => r.seq > records[5].seq],
      ['kind eq "grant"', (r) => r.kind === 'grant'],
      ['time ge "2026-06-01T00:03:00Z"', (r) => Date.parse(r.occurredAt) >= t0 + 180_000],
      ['occurredAt lt "2026-06-01T00:02:00Z"', (r) => Date.parse(r.occurredAt) < t0 + 120_000],
      [`taskId eq "ft-${engine}-1"`, (r) => r.body.taskId === `ft-${engine}-1`],
      ['callId eq "fc4"', (r) => r.body.callId === 'fc4'],
      ['userId eq "FU1"', (r) => r.body.userId === 'fu1'],
      ['agentId eq "fa0"', (r) => r.body.agentId === 'fa0'],
      ['toolId eq "tool1"', (r) => r.body.toolId === 'tool1'],
      ['appId eq "app2"', (r) => r.body.appId === 'app2'],
      ['actionClass eq "write"', (r) => r.body.actionClass === 'Write'],
      ['decision eq "allow"', (r) => r.body.decision === 'allow'],
      ['decision eq "DENY"', (r) => r.body.decision === 'deny'],
      ['decision ne "allow"', (r) => r.body.decision !== 'allow'],
      ['reasonCode pr', (r) => r.body.reasonCode !== undefined],
      ['policyVersion eq "v1"', (r) => r.body.policyVersion === 'v1'],
    ];
    for (const [filter, match] of expected) {
      const page = await tenant.query({ filter });
      expect([filter, page.Resources.map((r) => r.seq)]).toEqual([filter, records.filter(match).map((r) => r.seq)]);
    }
    expect(Object.keys(TRACE_FILTER_COLUMNS).filter((a) => !expected.some(([f]) => f.startsWith(`${a} `)))).toEqual([]);

    // With sequential scans priced out, each filter reads its own index (no tenant condition here:
    // the primary key (tenant, seq) would otherwise serve every one of them by a range scan).
    const plan = (sql: string, params: unknown[]) =>
      tdb.db.transaction(async (tx) => {
        await tx.query('set local enable_seqscan = off');
        return (await tx.query<{ 'QUERY PLAN': string }>(`explain ${sql}`, params)).map((r) => r['QUERY PLAN']).join('\n');
      });
    const indexes: [string, string][] = [
      ['traceId eq "x"', 'decision_traces_trace_id_key'],
      ['time ge "2026-06-01T00:03:00Z"', 'decision_traces_time'],
      ['taskId eq "t"', 'decision_traces_call'],
      ['userId eq "u"', 'decision_traces_user'],
      ['agentId eq "a"', 'decision_traces_agent'],
      ['appId eq "a"', 'decision_traces_app'],
      ['decision eq "deny"', 'decision_traces_decision'],
    ];
    for (const [filter, index] of indexes) {
      const w = scimFilterToSql(filter, TRACE_FILTER_COLUMNS, 1);
      expect([filter, await plan(`select count(*) from decision_traces where ${w.where}`, w.params)]).toEqual([filter, expect.stringMatching(new RegExp(`(using|Index Scan on) ${index} `))]);
    }
    for (const lookup of [
      "select * from decision_traces where kind = 'decision' and task_id = $1 and call_id = $2",
      "select * from decision_traces where task_id = $1 and call_id = $2 and kind in ('decision', 'escalation')",
    ]) {
      expect(await plan(lookup, ['t', 'c'])).toMatch(/(using|Index Scan on) decision_traces_call /);
    }
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
