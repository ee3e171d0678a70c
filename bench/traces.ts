// Decision Trace: append throughput and latency (group-committed hash chain) on PGlite and on
// PostgreSQL, and a query by person over 1,000,000 records (PostgreSQL; 100,000 on PGlite).
import { randomUUID } from 'node:crypto';
import { GENESIS, link } from '../src/audit/chain';
import { TraceStore } from '../src/audit/trace-store';
import type { SqlClient } from '../src/db/sql';
import { exitWhenDone } from './harness';
import { withScratchDatabase } from './scratch-db';
import { percentile } from './latency';

const ADMIN_URL = process.env.POSTGRES_BENCH_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

async function appendBench(db: SqlClient, engine: string): Promise<void> {
  const store = new TraceStore(db, 'bench');
  const writers = 200;
  const perWriter = 25;
  const latencies: number[] = [];
  const started = performance.now();
  await Promise.all(
    Array.from({ length: writers }, async (_, w) => {
      for (let i = 0; i < perWriter; i++) {
        const t0 = performance.now();
        await store.append({ kind: 'decision', body: { taskId: `t${w}`, callId: `c${i}`, userId: `u${w % 50}`, toolId: 'github.read_repo', decision: 'allow' } });
        latencies.push(performance.now() - t0);
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  latencies.sort((a, b) => a - b);
  const verdict = await store.verify();
  console.log(
    `append on ${engine.padEnd(8)} ${writers} concurrent writers: ${(latencies.length / seconds).toFixed(0)} records/s, p50 ${percentile(latencies, 50).toFixed(2)} ms, p99 ${percentile(latencies, 99).toFixed(2)} ms; chain ${verdict.ok ? 'verified' : 'BROKEN'} (${verdict.checked})`,
  );
}

/** Bulk-loads `n` chained records spread over 10,000 people (the chain is built in memory). */
async function load(db: SqlClient, n: number): Promise<void> {
  let prev = { seq: 0, hash: GENESIS };
  const t0 = Date.parse('2026-01-01T00:00:00Z');
  for (let start = 0; start < n; start += 1000) {
    const params: unknown[] = [];
    const values: string[] = [];
    for (let i = start; i < Math.min(n, start + 1000); i++) {
      const r = link(prev, {
        tenant: 'big',
        traceId: randomUUID(),
        kind: 'decision',
        occurredAt: new Date(t0 + i * 1000).toISOString(),
        body: { taskId: `t${i % 50_000}`, callId: `c${i}`, userId: `person${i % 10_000}`, agentId: 'agent', toolId: 'github.read_repo', appId: 'github', decision: i % 7 ? 'allow' : 'deny' },
      });
      prev = r;
      params.push(r.tenant, r.seq, r.traceId, r.kind, r.occurredAt, JSON.stringify(r.body), r.prevHash, r.hash);
      const k = params.length;
      values.push(`($${k - 7},$${k - 6},$${k - 5},$${k - 4},$${k - 3},$${k - 2}::jsonb,$${k - 1},$${k})`);
    }
    await db.query(`insert into decision_traces (tenant, seq, trace_id, kind, occurred_at, body, prev_hash, hash) values ${values.join(',')}`, params);
  }
  await db.query("insert into trace_chain_heads (tenant, seq, hash) values ('big', $1, $2)", [prev.seq, prev.hash]);
  await db.exec('analyze decision_traces');
}

async function queryBench(db: SqlClient, engine: string, n: number): Promise<void> {
  const t0 = performance.now();
  await load(db, n);
  const loadSeconds = (performance.now() - t0) / 1000;
  const store = new TraceStore(db, 'big');
  const latencies: number[] = [];
  for (let i = 0; i < 200; i++) {
    const s = performance.now();
    const page = await store.query({ filter: `userId eq "person${(i * 37) % 10_000}" and decision eq "allow"`, count: 100 });
    latencies.push(performance.now() - s);
    if (!page.totalResults) throw new Error('query found nothing');
  }
  latencies.sort((a, b) => a - b);
  console.log(
    `query by person on ${engine.padEnd(8)} over ${n.toLocaleString('en')} records (loaded in ${loadSeconds.toFixed(0)} s): p50 ${percentile(latencies, 50).toFixed(2)} ms, p99 ${percentile(latencies, 99).toFixed(2)} ms`,
  );
}

export async function benchTraces(): Promise<void> {
  await withScratchDatabase({ engine: 'pglite' }, (db) => appendBench(db, 'PGlite'));
  await withScratchDatabase({ engine: 'postgres', adminUrl: ADMIN_URL, poolSize: 20 }, (db) => appendBench(db, 'Postgres'));
  await withScratchDatabase({ engine: 'pglite' }, (db) => queryBench(db, 'PGlite', 100_000));
  await withScratchDatabase({ engine: 'postgres', adminUrl: ADMIN_URL, poolSize: 20 }, (db) => queryBench(db, 'Postgres', 1_000_000));
}

if (require.main === module) exitWhenDone(benchTraces());
