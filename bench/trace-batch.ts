// The Decision Trace group commit alone, as the in-context path drives it: batches of concurrent
// appends of decision records shaped like DecisionService.commit's (unlessHeld, the session
// counters counted in the same statement, each allow fenced by its grant), on PGlite (on disk, as `npm start` keeps it) and, when
// DATABASE_URL is set, on a scratch database of that PostgreSQL server. No Temporal, no HTTP: what
// one batch costs, in time and in CPU of this process (on PGlite that is the database's work too,
// on the main thread: the event-loop delay shows how long it blocks) and, on a PostgreSQL of this
// machine, in CPU of its processes. `npm run bench -- trace-batch`, or `node dist/bench/trace-batch.js`.
// TRACE_BATCH_SIZES (default 25,50) and TRACE_BATCHES (default 200 per size) tune it;
// TRACE_BATCH_PGLITE=memory keeps PGlite in memory; TRACE_BATCH_PROFILE=<dir> writes CPU profiles
// of the measured batches.
import { randomBytes, randomUUID } from 'node:crypto';
import fs from 'node:fs';
import inspector from 'node:inspector';
import path from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { argsDigest } from '../src/audit/digest';
import { TraceStore, type AppendOptions } from '../src/audit/trace-store';
import type { TraceBody, TraceEntry } from '../src/audit/trace-types';
import type { SqlClient } from '../src/db/sql';
import { emptySession, type SessionIncrement } from '../src/policy/session';
import { exitWhenDone, isLocalPostgres, postgresCpuMicros } from './harness';
import { withScratchDatabase } from './scratch-db';
import { percentile } from './latency';

const SIZES = (process.env.TRACE_BATCH_SIZES ?? '25,50').split(',').map(Number);
const BATCHES = Number(process.env.TRACE_BATCHES ?? 200);
const WARMUP = 20;
const TASKS = 50;

interface Task {
  taskId: string;
  userId: string;
  agentId: string;
}

/** The body DecisionService.commit writes for an allowed in-context call. */
function decisionBody(task: Task, callId: string, n: number): TraceBody {
  const args = { repo: 'acme/api', title: `bench ${n}`, head: 'b' };
  return {
    taskId: task.taskId,
    callId,
    userId: task.userId,
    agentId: task.agentId,
    toolId: 'github.create_pr',
    appId: 'github',
    actionClass: 'Write',
    decision: 'allow',
    policyVersion: 'sha256:4f1c2a9e0b7d',
    rules: [{ id: 'engineering-may-open-prs', mode: 'enforce', outcome: 'allow' }],
    argsDigest: argsDigest(args),
    credentialRefId: `cref_${randomBytes(12).toString('base64url')}`,
    snapshot: {
      user: {
        id: task.userId,
        userName: `${task.userId}@acme.example`,
        displayName: 'Alice Example',
        title: 'Engineer',
        department: 'Engineering',
        manager: 'bob',
        active: true,
        emails: [{ value: `${task.userId}@acme.example`, primary: true }],
        groups: ['engineering', 'everyone'],
      },
      agent: { id: task.agentId, name: 'Coding agent', owner: 'alice', active: true },
      app: { id: 'github', riskLevel: 'medium', dataClassification: 'internal', category: 'engineering', owner: 'carol' },
      session: { ...emptySession(), calls: n, actions: { Read: 0, Write: n, Destructive: 0, External: 0 } },
      args,
      rates: [{ per: 'agent', windowSeconds: 60, count: n % 100 }],
    },
  };
}

/**
 * TRACE_BATCH_PROFILE=<dir>: a CPU profile of the measured batches only (no set-up, warm-up or
 * verification), one .cpuprofile per engine and size, for Chrome DevTools or speedscope.
 */
async function startProfile(): Promise<{ stop(name: string): Promise<void> } | undefined> {
  const dir = process.env.TRACE_BATCH_PROFILE;
  if (!dir) return undefined;
  const session = new inspector.Session();
  session.connect();
  const post = (method: string, params?: object) =>
    new Promise<unknown>((resolve, reject) => session.post(method, params, (err, result) => (err ? reject(err) : resolve(result))));
  await post('Profiler.enable');
  await post('Profiler.start');
  return {
    async stop(name) {
      const { profile } = (await post('Profiler.stop')) as { profile: unknown };
      fs.mkdirSync(dir, { recursive: true });
      fs.writeFileSync(path.join(dir, `trace-batch-${name}.cpuprofile`), JSON.stringify(profile));
      session.disconnect();
    },
  };
}

interface Figures {
  batchMs: number[];
  cpuMs: number;
  /** CPU of this machine's PostgreSQL processes over the measured batches (a local PostgreSQL only). */
  postgresCpuMs?: number;
  loopDelayP99: number;
  loopDelayMax: number;
}

async function run(db: SqlClient, size: number, tenant: string, tasks: Task[]): Promise<Figures> {
  const store = new TraceStore(db, tenant);
  let n = 0;
  // The entries are built before the clock starts: what is measured is the store's work.
  const entries = () =>
    Array.from({ length: size }, () => {
      const i = n++;
      const task = tasks[i % tasks.length];
      const item: SessionIncrement = { taskId: task.taskId, call: { toolId: 'github.create_pr', appId: 'github', action: 'Write', dataClassification: 'internal' } };
      const entry: TraceEntry = { kind: 'decision', body: decisionBody(task, `${tenant}-call-${i}`, i), occurredAt: new Date().toISOString(), traceId: randomUUID() };
      // As DecisionService.commit appends an allowed call of a tool in context: fenced by its grant.
      const opts: AppendOptions = { unlessHeld: true, session: item, fence: 'github.create_pr' };
      return { entry, item, opts };
    });
  const batch = (list: ReturnType<typeof entries>) =>
    Promise.all(
      list.map(({ entry, item, opts }) =>
        store.append(entry, opts).then((r) => {
          if (r.traceId !== entry.traceId || !item.after) throw new Error('a fresh call was not recorded as fresh');
        }),
      ),
    );
  for (let i = 0; i < WARMUP; i++) await batch(entries());
  const profile = await startProfile();
  const batchMs: number[] = [];
  let cpuMicros = 0;
  const delay = monitorEventLoopDelay({ resolution: 1 });
  const postgresCpu0 = db.engine === 'postgres' && isLocalPostgres(process.env.DATABASE_URL) ? postgresCpuMicros() : undefined;
  for (let i = 0; i < BATCHES; i++) {
    const list = entries();
    delay.enable();
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    await batch(list);
    batchMs.push(performance.now() - t0);
    const cpu = process.cpuUsage(cpu0);
    cpuMicros += cpu.user + cpu.system;
    delay.disable();
  }
  const postgresCpu1 = postgresCpu0 === undefined ? undefined : postgresCpuMicros();
  await profile?.stop(`${tenant}-${db.engine}`);
  const verdict = await store.verify();
  if (!verdict.ok || verdict.checked !== n) throw new Error(`chain of ${tenant}: ${JSON.stringify(verdict)} after ${n} appends`);
  return {
    batchMs: batchMs.sort((a, b) => a - b),
    cpuMs: cpuMicros / 1000,
    postgresCpuMs: postgresCpu0 !== undefined && postgresCpu1 !== undefined ? (postgresCpu1 - postgresCpu0) / 1000 : undefined,
    loopDelayP99: delay.percentile(99) / 1e6,
    loopDelayMax: delay.max / 1e6,
  };
}

async function benchEngine(db: SqlClient, engine: string): Promise<void> {
  const tasks: Task[] = Array.from({ length: TASKS }, (_, i) => ({ taskId: `task-${i}-${randomUUID()}`, userId: `user${i % 10}`, agentId: 'coding-agent' }));
  await db.query("insert into agents (id, name) values ('coding-agent', 'Coding agent')");
  for (const t of tasks) {
    await db.query('insert into users (id, user_name) values ($1, $1) on conflict do nothing', [t.userId]);
    await db.query(
      `insert into tasks (task_id, tenant, user_id, agent_id, status, workflow_id, expires_at)
       values ($1, 'bench', $2, $3, 'active', $1, now() + interval '1 day')`,
      [t.taskId, t.userId, t.agentId],
    );
    await db.query("insert into grants (task_id, tool_id, app_id, via) values ($1, 'github.create_pr', 'github', 'policy')", [t.taskId]);
  }
  let appended = 0;
  const measure = async (size: number, tenant: string, label: string) => {
    const f = await run(db, size, tenant, tasks);
    appended += (WARMUP + BATCHES) * size;
    const p50 = percentile(f.batchMs, 50);
    console.log(
      `${label.padEnd(15)} batch of ${String(size).padStart(3)}: p50 ${p50.toFixed(2).padStart(6)} ms, p99 ${percentile(f.batchMs, 99).toFixed(2).padStart(6)} ms per batch; ` +
        `${((p50 * 1000) / size).toFixed(0).padStart(4)} µs per record (p50); CPU ${(f.cpuMs / BATCHES).toFixed(2)} ms per batch` +
        `${f.postgresCpuMs === undefined ? '' : ` (PostgreSQL: ${((f.postgresCpuMs * 1000) / BATCHES / size).toFixed(0)} µs per record)`}, ` +
        `event-loop delay p99 ${f.loopDelayP99.toFixed(1)} ms, max ${f.loopDelayMax.toFixed(1)} ms`,
    );
  };
  for (const size of SIZES) await measure(size, `bench-${size}`, engine);
  // The group commit's plans are made once per connection, by its first batch (50 active tasks
  // here), and PGlite never re-plans them: the same batches once 5,000 more tasks are active, each
  // with a live grant, read no more of them than before.
  await db.query(
    `insert into tasks (task_id, tenant, user_id, agent_id, status, workflow_id, expires_at)
     select 'grown-' || g, 'bench', 'user0', 'coding-agent', 'active', 'grown-' || g, now() + interval '1 day' from generate_series(1, 5000) g`,
  );
  await db.query("insert into grants (task_id, tool_id, app_id, via) select 'grown-' || g, 'github.create_pr', 'github', 'policy' from generate_series(1, 5000) g");
  await measure(SIZES[0], 'bench-grown', `${engine}, 5,050 tasks`);
  // The session counters are exact: every append counted once in its task.
  const rows = await db.query<{ calls: number }>('select (session->>\'calls\')::int as calls from tasks where tenant = $1', ['bench']);
  const counted = rows.reduce((s, r) => s + r.calls, 0);
  if (counted !== appended) throw new Error(`session counters: ${counted} calls counted for ${appended} appends`);
}

export async function benchTraceBatch(): Promise<void> {
  console.log(`Decision Trace group commit: ${BATCHES} batches per size after ${WARMUP} warm-up, ${TASKS} tasks, in-context allows (unlessHeld, session counters, fenced by their grants)`);
  await withScratchDatabase({ engine: 'pglite', onDisk: process.env.TRACE_BATCH_PGLITE !== 'memory' }, (db) => benchEngine(db, process.env.TRACE_BATCH_PGLITE === 'memory' ? 'PGlite (memory)' : 'PGlite'));
  if (process.env.DATABASE_URL) await withScratchDatabase({ engine: 'postgres', adminUrl: process.env.DATABASE_URL }, (db) => benchEngine(db, 'Postgres'));
  else console.log('Postgres skipped (set DATABASE_URL, e.g. postgres://postgres@127.0.0.1:5432/postgres)');
}

if (require.main === module) exitWhenDone(benchTraceBatch());
