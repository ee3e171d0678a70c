// Prometheus metrics of this process.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { TraceStore } from '../audit/trace-store';
import type { PgliteClient } from '../db/pglite-client';
import type { SqlClient } from '../db/sql';
import type { LiveProjection } from '../projection/live-projection';

export class Metrics {
  readonly registry = new Registry();
  readonly decisionLatency = new Histogram({
    name: 'agent_access_decision_seconds',
    help: 'Time to decide a tool call, by outcome and path',
    labelNames: ['outcome', 'path'] as const,
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [this.registry],
  });
  readonly decisions = new Counter({
    name: 'agent_access_decisions_total',
    help: 'Tool-call decisions, by outcome',
    labelNames: ['outcome'] as const,
    registers: [this.registry],
  });

  readonly revocationsFailed = new Counter({
    name: 'agent_access_revocations_failed_total',
    help: 'Deprovisionings that exhausted their retry budget (the workflow keeps trying)',
    labelNames: ['app'] as const,
    registers: [this.registry],
  });

  constructor() {
    collectDefaultMetrics({ register: this.registry });
  }

  /**
   * The trace store's group commits. A commit has a
   * fixed cost (on PGlite as much as several records), and a new one starts as soon as the last
   * ends: records per commit near 1 under steady load means that fixed cost is what the process
   * spends its time on.
   */
  observeTraceCommits(traces: Pick<TraceStore, 'onCommit'>): void {
    const seconds = new Histogram({
      name: 'agent_access_trace_commit_seconds',
      help: 'Time one Decision Trace group commit held the database',
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25],
      registers: [this.registry],
    });
    const records = new Histogram({
      name: 'agent_access_trace_commit_records',
      help: 'Appends one Decision Trace group commit took',
      buckets: [1, 2, 5, 10, 25, 50, 100, 200],
      registers: [this.registry],
    });
    traces.onCommit((c) => {
      seconds.observe(c.seconds);
      records.observe(c.records);
    });
  }

  /**
   * The embedded database's own upkeep (PGlite: no autovacuum, no checkpointer): each freeze and
   * checkpoint blocks the event loop while it runs, so its time shows here.
   */
  observeDatabaseUpkeep(db: Pick<PgliteClient, 'onUpkeep'>): void {
    const seconds = new Histogram({
      name: 'agent_access_database_upkeep_seconds',
      help: 'Time one upkeep step of the embedded database (freeze, checkpoint) held it and the event loop',
      labelNames: ['step'] as const,
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1],
      registers: [this.registry],
    });
    db.onUpkeep((u) => seconds.observe({ step: u.step }, u.seconds));
  }

  /** The live projection: whether it hears changes (0: every call reads the database) and what it holds. */
  observeProjection(projection: LiveProjection): void {
    new Gauge({
      name: 'agent_access_projection_listening',
      help: '1 while database change notifications reach this process (the projection caches); 0 otherwise',
      registers: [this.registry],
      collect() {
        this.set(projection.listening ? 1 : 0);
      },
    });
    new Gauge({
      name: 'agent_access_projection_entries',
      help: 'Entries the live projection holds in memory, by kind',
      labelNames: ['kind'] as const,
      registers: [this.registry],
      collect() {
        for (const [kind, n] of Object.entries(projection.size)) this.set({ kind }, n);
      },
    });
  }

  /** Gauges read from the database at scrape time, so every replica reports the same truth. */
  observeDatabase(db: SqlClient): void {
    new Gauge({
      name: 'agent_access_database_xid_age',
      help: 'Transaction ids since the database was last frozen; PostgreSQL refuses writes near 2 billion (wraparound)',
      registers: [this.registry],
      async collect() {
        const [r] = await db.query<{ age: number }>('select age(datfrozenxid) as age from pg_database where datname = current_database()');
        this.set(r.age);
      },
    });
    new Gauge({
      name: 'agent_access_approvals_pending',
      help: 'Held calls waiting for a human',
      registers: [this.registry],
      async collect() {
        const [r] = await db.query<{ n: number }>("select count(*)::int as n from approvals where status = 'pending'");
        this.set(r.n);
      },
    });
    new Gauge({
      name: 'agent_access_approvals_pending_oldest_seconds',
      help: 'Age of the oldest held call',
      registers: [this.registry],
      async collect() {
        const [r] = await db.query<{ s: number | null }>(
          "select extract(epoch from now() - min(created_at))::float8 as s from approvals where status = 'pending'",
        );
        this.set(r.s ?? 0);
      },
    });
    new Gauge({
      name: 'agent_access_grants_live',
      help: 'Tools in the context of active tasks',
      registers: [this.registry],
      async collect() {
        const [r] = await db.query<{ n: number }>('select count(*)::int as n from grants where revoked_at is null');
        this.set(r.n);
      },
    });
    new Gauge({
      name: 'agent_access_revocations_failing',
      help: 'Provisioned access whose removal is failing right now',
      registers: [this.registry],
      async collect() {
        const [r] = await db.query<{ n: number }>("select count(*)::int as n from jit_grants where revoke_status = 'revoke_failed'");
        this.set(r.n);
      },
    });
  }
}
