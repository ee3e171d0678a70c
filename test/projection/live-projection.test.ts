// The live projection on both engines: people, agents and task views are served from memory (a
// second read makes no query), forgotten the moment their rows change (NOTIFY 'projection' from the
// 010_projection_notify triggers), never kept when absent, failed or loaded across a change, and
// `barrier()` applies every change committed before it. On PostgreSQL also: a change committed by
// another process is seen within a second, and while the listening connection is down nothing is
// cached (changes made meanwhile are not served stale); after it reconnects, caching resumes.
import { randomUUID } from 'node:crypto';
import { Client } from 'pg';
import { PgClient } from '../../src/db/pg-client';
import type { Listener, SqlClient } from '../../src/db/sql';
import { DirectoryRepository } from '../../src/directory/directory-repository';
import { LiveProjection, type ProjectionSource } from '../../src/projection/live-projection';
import { TaskRepository } from '../../src/tasks/task-repository';
import { ENGINES, testDatabase, type TestDatabase } from '../support/databases';

// As in test/support/databases.ts: the maintenance database the test databases are created from.
const ADMIN_URL = process.env.POSTGRES_TEST_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitFor(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}.`);
    await sleep(5);
  }
}

/** The production source (services.ts), with every call counted: a read served from memory counts nothing. */
function countingSource(db: SqlClient) {
  const tasks = new TaskRepository(db);
  const directory = new DirectoryRepository(db);
  const calls = { view: 0, user: 0, agent: 0 };
  const source: ProjectionSource = {
    view: (id) => (calls.view++, tasks.view(id)),
    user: (id) => (calls.user++, directory.user(id)),
    agent: (id) => (calls.agent++, directory.agent(id)),
  };
  return { source, calls };
}

/**
 * The same client, its listener relayed: every `live(up)` is reported to `states` (to wait for a drop
 * and a reconnect), and payloads can be delivered `delayMs` late, in order (a slow listening connection).
 */
function relayed(db: SqlClient, opts: { states?: boolean[]; delayMs?: number }): SqlClient {
  return {
    engine: db.engine,
    query: <T,>(text: string, params?: unknown[]) => db.query<T>(text, params),
    simpleQuery: <T,>(text: string) => db.simpleQuery<T>(text),
    exec: (script) => db.exec(script),
    transaction: (fn) => db.transaction(fn),
    close: () => db.close(),
    listen: (channel: string, h: Listener) =>
      db.listen(channel, {
        payload: (p) => (opts.delayMs ? void setTimeout(() => h.payload(p), opts.delayMs) : h.payload(p)),
        live: (up) => {
          opts.states?.push(up);
          h.live(up);
        },
      }),
  };
}

interface Seeded {
  userId: string;
  agentId: string;
  taskId: string;
  refId: string;
}

/** A person in one group, their agent, an active task with two live grants, one with a credential reference. */
async function seed(db: SqlClient): Promise<Seeded> {
  const id = randomUUID().slice(0, 8);
  const s = { userId: `u-${id}`, agentId: `a-${id}`, taskId: `t-${id}`, refId: `ref-${id}` };
  await db.query('insert into users (id, user_name) values ($1, $1)', [s.userId]);
  await db.query('insert into groups (id, display_name) values ($1, $1)', [`eng-${id}`]);
  await db.query('insert into group_members (group_id, user_id) values ($1, $2)', [`eng-${id}`, s.userId]);
  await db.query('insert into agents (id, name, owner_id) values ($1, $1, $2)', [s.agentId, s.userId]);
  await db.query(
    `insert into tasks (task_id, tenant, user_id, agent_id, status, workflow_id, expires_at)
     values ($1, 'default', $2, $3, 'active', $1, now() + interval '1 hour')`,
    [s.taskId, s.userId, s.agentId],
  );
  await db.query(`insert into grants (task_id, tool_id, app_id, via) values ($1, 'github.read', 'github', 'policy'), ($1, 'crm.read', 'crm', 'policy')`, [
    s.taskId,
  ]);
  await db.query(
    `insert into credential_refs (ref_hash, ref_id, task_id, agent_id, tool_id, app_id, expires_at)
     values ($1, $2, $3, $4, 'github.read', 'github', now() + interval '1 hour')`,
    [`hash-${id}`, s.refId, s.taskId, s.agentId],
  );
  return s;
}

describe.each(ENGINES)('live projection on %s', (engine) => {
  let tdb: TestDatabase;
  let projection: LiveProjection | undefined;
  let calls: ReturnType<typeof countingSource>['calls'];

  /** A started projection over the counting source (or another one), stopped after the test. */
  async function start(source?: ProjectionSource, maxEntries?: number, db: SqlClient = tdb.db): Promise<LiveProjection> {
    const counting = countingSource(tdb.db);
    calls = counting.calls;
    const p = new LiveProjection(db, source ?? counting.source, maxEntries);
    projection = p;
    await p.start();
    return p;
  }

  /** Rows for a test, their own notifications applied (on PostgreSQL they arrive after the commit). */
  async function seeded(p: LiveProjection): Promise<Seeded> {
    const s = await seed(tdb.db);
    await p.barrier();
    return s;
  }

  beforeAll(async () => {
    tdb = await testDatabase(engine);
  });
  afterEach(async () => {
    await projection?.stop();
    projection = undefined;
  });
  afterAll(async () => {
    await tdb?.drop();
  });

  it('serves a person from memory and forgets only them when their row or group membership changes', async () => {
    const p = await start();
    const s = await seeded(p);
    const other = await seeded(p);
    expect(await p.user(s.userId)).toMatchObject({ id: s.userId, active: true, groups: [`eng-${s.userId.slice(2)}`] });
    await p.user(other.userId);
    expect(await p.user(s.userId)).toMatchObject({ active: true });
    expect(calls.user).toBe(2); // the second read of s came from memory

    await tdb.db.query('update users set active = false where id = $1', [s.userId]);
    await p.barrier();
    expect(await p.user(s.userId)).toMatchObject({ active: false });
    expect(calls.user).toBe(3);
    await p.user(other.userId);
    expect(calls.user).toBe(3); // another person's change does not forget this one

    await tdb.db.query("insert into groups (id, display_name) values ('admins', 'admins') on conflict do nothing");
    await tdb.db.query("insert into group_members (group_id, user_id) values ('admins', $1)", [s.userId]);
    await p.barrier();
    expect((await p.user(s.userId))?.groups).toContain('admins');
    expect(calls.user).toBe(4);
  });

  it('serves an agent from memory and forgets it when it is orphaned', async () => {
    const p = await start();
    const s = await seeded(p);
    expect(await p.agent(s.agentId)).toMatchObject({ id: s.agentId, active: true, orphaned: false });
    expect(await p.agent(s.agentId)).toMatchObject({ active: true });
    expect(calls.agent).toBe(1);

    await tdb.db.query('update agents set orphaned = true where id = $1', [s.agentId]);
    await p.barrier();
    expect(await p.agent(s.agentId)).toMatchObject({ active: false, orphaned: true });
    expect(calls.agent).toBe(2);
  });

  it('serves a task view from memory and forgets it when a grant, a credential reference or the task status changes', async () => {
    const p = await start();
    const s = await seeded(p);
    const view = await p.task(s.taskId);
    expect(view?.task).toMatchObject({ taskId: s.taskId, status: 'active' });
    expect([...view!.live.keys()].sort()).toEqual(['crm.read', 'github.read']);
    expect(view!.live.get('github.read')?.credentialRefId).toBe(s.refId);
    expect(await p.task(s.taskId)).toBe(view); // the same object, no query
    expect(calls.view).toBe(1);

    await tdb.db.query("update grants set revoked_at = now() where task_id = $1 and tool_id = 'crm.read'", [s.taskId]);
    await p.barrier();
    expect([...(await p.task(s.taskId))!.live.keys()]).toEqual(['github.read']);
    expect(calls.view).toBe(2);

    await tdb.db.query('update credential_refs set revoked_at = now() where task_id = $1', [s.taskId]);
    await p.barrier();
    expect((await p.task(s.taskId))!.live.get('github.read')?.credentialRefId).toBeUndefined();
    expect(calls.view).toBe(3);

    await tdb.db.query("update tasks set status = 'revoked' where task_id = $1", [s.taskId]);
    await p.barrier();
    expect((await p.task(s.taskId))?.task.status).toBe('revoked');
    expect(calls.view).toBe(4);
  });

  it('does not keep a load that started before a change committed', async () => {
    const counting = countingSource(tdb.db);
    // The first view() reads (before the change) and then is held back until the change was applied.
    let read!: () => void;
    let release!: () => void;
    const readDone = new Promise<void>((r) => (read = r));
    const held = new Promise<void>((r) => (release = r));
    let first = true;
    const slow: ProjectionSource = {
      ...counting.source,
      view: async (id) => {
        const v = await counting.source.view(id);
        if (first) {
          first = false;
          read();
          await held;
        }
        return v;
      },
    };
    const p = await start(slow);
    const s = await seeded(p);
    const inFlight = p.task(s.taskId);
    await readDone;
    await tdb.db.query("update grants set revoked_at = now() where task_id = $1 and tool_id = 'github.read'", [s.taskId]);
    await p.barrier();
    release();
    // Its caller gets what it read (the call started before the revocation)...
    expect((await inFlight)!.live.has('github.read')).toBe(true);
    // ...but the next call reads again and sees the revocation.
    expect((await p.task(s.taskId))!.live.has('github.read')).toBe(false);
    expect(counting.calls.view).toBe(2);
    expect(await p.task(s.taskId)).toBeDefined();
    expect(counting.calls.view).toBe(2); // and that fresh load is kept
  });

  it('does not keep absence: a task or a person created after a miss is found by the next read', async () => {
    const p = await start();
    const id = randomUUID().slice(0, 8);
    expect(await p.task(`late-${id}`)).toBeUndefined();
    expect(await p.user(`late-${id}`)).toBeUndefined();
    expect(p.size).toEqual({ tasks: 0, users: 0, agents: 0 });
    // No barrier: inserting a task sends no notification at all (its trigger fires on status and expires_at updates).
    await tdb.db.query(
      `insert into tasks (task_id, tenant, user_id, agent_id, status, workflow_id, expires_at)
       values ($1, 'default', 'nobody', 'none', 'active', $1, now() + interval '1 hour')`,
      [`late-${id}`],
    );
    await tdb.db.query('insert into users (id, user_name) values ($1, $1)', [`late-${id}`]);
    expect((await p.task(`late-${id}`))?.task.taskId).toBe(`late-${id}`);
    expect((await p.user(`late-${id}`))?.id).toBe(`late-${id}`);
    expect(calls).toMatchObject({ view: 2, user: 2 });
  });

  it('does not keep a failed load', async () => {
    const counting = countingSource(tdb.db);
    let fail = true;
    const flaky: ProjectionSource = {
      ...counting.source,
      user: (id) => (fail ? ((fail = false), Promise.reject(new Error('connection reset'))) : counting.source.user(id)),
    };
    const p = await start(flaky);
    const s = await seeded(p);
    await expect(p.user(s.userId)).rejects.toThrow('connection reset');
    expect(await p.user(s.userId)).toMatchObject({ id: s.userId });
    expect(p.size.users).toBe(1);
  });

  it('forgets everything on a notification of a kind it does not know', async () => {
    const p = await start();
    const s = await seeded(p);
    await Promise.all([p.user(s.userId), p.agent(s.agentId), p.task(s.taskId)]);
    expect(p.size).toEqual({ tasks: 1, users: 1, agents: 1 });
    await tdb.db.query("select pg_notify('projection', 'widget:42')");
    await p.barrier();
    expect(p.size).toEqual({ tasks: 0, users: 0, agents: 0 });
  });

  it('holds at most maxEntries of a kind, dropping the oldest', async () => {
    const p = await start(undefined, 2);
    const [a, b, c] = [await seeded(p), await seeded(p), await seeded(p)];
    for (const s of [a, b, c]) await p.user(s.userId);
    expect(p.size.users).toBe(2);
    await p.user(c.userId);
    expect(calls.user).toBe(3);
    await p.user(a.userId); // the oldest was dropped
    expect(calls.user).toBe(4);
  });

  it('resolves a barrier by its own notification, quickly', async () => {
    const p = await start();
    for (let i = 0; i < 3; i++) {
      const t0 = Date.now();
      // A long timeout: resolving by the timeout would take 10 s, not milliseconds.
      await p.barrier(10_000);
      expect(Date.now() - t0).toBeLessThan(500);
    }
    // Concurrent barriers each find their own marker.
    const t0 = Date.now();
    await Promise.all(Array.from({ length: 20 }, () => p.barrier(10_000)));
    expect(Date.now() - t0).toBeLessThan(1000);
  });

  it('resolves a barrier only once its own marker arrived, every change committed before it applied', async () => {
    // Notifications reach this projection 150 ms late: a barrier that did not wait for its marker would serve the stale entry.
    const p = await start(undefined, undefined, relayed(tdb.db, { delayMs: 150 }));
    const s = await seeded(p);
    expect(await p.user(s.userId)).toMatchObject({ active: true });
    await tdb.db.query('update users set active = false where id = $1', [s.userId]);
    const t0 = Date.now();
    await p.barrier(10_000);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(100);
    expect(await p.user(s.userId)).toMatchObject({ active: false });

    // An earlier barrier's marker does not resolve a later one: the change between them is applied first.
    expect(await p.agent(s.agentId)).toMatchObject({ active: true });
    const earlier = p.barrier(10_000);
    await tdb.db.query('update agents set orphaned = true where id = $1', [s.agentId]);
    await p.barrier(10_000);
    expect(await p.agent(s.agentId)).toMatchObject({ active: false });
    await earlier;
  });

  it('caches nothing once stopped, and its barrier returns at once', async () => {
    const p = await start();
    const s = await seeded(p);
    await p.stop();
    projection = undefined; // stopped here, not again after the test
    await p.user(s.userId);
    await p.user(s.userId);
    expect(calls.user).toBe(2);
    expect(p.size.users).toBe(0);
    const t0 = Date.now();
    await p.barrier(10_000);
    expect(Date.now() - t0).toBeLessThan(100);
  });
});

describe('live projection across PostgreSQL connections', () => {
  let tdb: TestDatabase;
  let dbName: string;
  const opened: SqlClient[] = [];
  const started: LiveProjection[] = [];

  beforeAll(async () => {
    tdb = await testDatabase('postgres');
    dbName = new URL(tdb.url!).pathname.slice(1);
  });
  afterEach(async () => {
    for (const p of started.splice(0)) await p.stop();
    for (const c of opened.splice(0)) await c.close();
  });
  afterAll(async () => {
    await tdb?.drop();
  });

  /** A client of its own on the test database: another replica's pool and listening connection. */
  function replica(): SqlClient {
    const c = PgClient.open(tdb.url!);
    opened.push(c);
    return c;
  }

  async function projectionOn(db: SqlClient) {
    const counting = countingSource(db);
    const p = new LiveProjection(db, counting.source);
    await p.start();
    started.push(p);
    return { p, calls: counting.calls };
  }

  it("sees another process's committed change within a second, without a barrier", async () => {
    const a = replica();
    const b = replica();
    await projectionOn(a); // process A listens too, as every replica does
    const { p: pb, calls } = await projectionOn(b);
    const s = await seed(a);
    await pb.barrier();
    expect(await pb.user(s.userId)).toMatchObject({ active: true });
    expect(await pb.task(s.taskId)).toBeDefined();
    expect(await pb.user(s.userId)).toMatchObject({ active: true });
    expect(calls).toMatchObject({ user: 1, view: 1 });

    const t0 = Date.now();
    await a.query('update users set active = false where id = $1', [s.userId]);
    await a.query("update tasks set status = 'revoked' where task_id = $1", [s.taskId]);
    await waitFor('B to see the change', async () => (await pb.user(s.userId))?.active === false && (await pb.task(s.taskId))?.task.status === 'revoked', 2000);
    expect(Date.now() - t0).toBeLessThan(1000);
  });

  it("applies another process's change before its barrier resolves", async () => {
    const a = replica();
    const b = replica();
    const { p: pa } = await projectionOn(a);
    const s = await seed(a);
    await pa.barrier();
    expect(await pa.agent(s.agentId)).toMatchObject({ active: true });
    await b.query('update agents set orphaned = true where id = $1', [s.agentId]);
    await pa.barrier(10_000);
    // No polling: the change committed before the barrier, so it has been applied.
    expect(await pa.agent(s.agentId)).toMatchObject({ active: false, orphaned: true });
  });

  it('caches nothing while its listening connection is down, serves no change made meanwhile stale, and caches again once reconnected', async () => {
    const states: boolean[] = [];
    const db = replica();
    const { p, calls } = await projectionOn(relayed(db, { states }));
    const s = await seed(db);
    await p.barrier();
    await p.user(s.userId);
    await p.agent(s.agentId);
    await p.user(s.userId);
    expect(calls).toMatchObject({ user: 1, agent: 1 });

    const admin = new Client({ connectionString: ADMIN_URL });
    await admin.connect();
    try {
      // Keep it down: the reconnect (with backoff) is refused until connections are allowed again.
      // The pool's connections stay open, so the source can still read.
      await admin.query(`alter database ${dbName} allow_connections false`);
      const killed = await db.query<{ killed: boolean }>(
        `select pg_terminate_backend(pid) as killed from pg_stat_activity
         where datname = current_database() and pid <> pg_backend_pid() and query = 'LISTEN "projection"'`,
      );
      // Ours is the only live listener on this database (earlier tests' ones may still be exiting).
      expect(killed).toContainEqual({ killed: true });
      await waitFor('the drop to be noticed', () => states.includes(false));

      // Down: every read goes to the source.
      await p.user(s.userId);
      await p.user(s.userId);
      expect(calls.user).toBe(3);
      expect(p.size).toEqual({ tasks: 0, users: 0, agents: 0 });
      expect(await p.user(s.userId)).toMatchObject({ active: true });
      await db.query('update users set active = false where id = $1', [s.userId]);
      await db.query('update agents set orphaned = true where id = $1', [s.agentId]);
      expect(await p.user(s.userId)).toMatchObject({ active: false });
      await sleep(300); // a couple of refused reconnects
      expect(states.includes(true)).toBe(false);

      await admin.query(`alter database ${dbName} allow_connections true`);
      await waitFor('the reconnect', () => states[states.length - 1] === true);
    } finally {
      await admin.query(`alter database ${dbName} allow_connections true`).catch(() => undefined);
      await admin.end();
    }

    // The agent was cached before the drop and changed while it was down: not served stale.
    expect(await p.agent(s.agentId)).toMatchObject({ active: false, orphaned: true });
    // Up again: cached, and forgotten on change as before.
    const before = calls.user;
    expect(await p.user(s.userId)).toMatchObject({ active: false });
    expect(await p.user(s.userId)).toMatchObject({ active: false });
    expect(calls.user).toBe(before + 1);
    await db.query('update users set active = true where id = $1', [s.userId]);
    await p.barrier(10_000);
    expect(await p.user(s.userId)).toMatchObject({ active: true });
    expect(calls.user).toBe(before + 2);
  });
});
