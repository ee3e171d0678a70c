// Identity lifecycle against the whole orchestrator (real Temporal dev server, worker, API, PGlite
// or DATABASE_URL): the offboarding drill — a person with many running tasks, each holding
// grants — timed from the HR event's 202 until every new call of theirs is denied and until
// every grant is revoked with a receipt; then SCIM list latency over a large directory.
// Prints figures; asserts nothing. Alone: `npm run build && node dist/bench/identity.js`.
import { randomBytes, randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Webhook } from 'standardwebhooks';
import { loadConfig } from '../src/config/config';
import { runOrchestrator, type Orchestrator } from '../src/orchestrator';
import { exitWhenDone } from './harness';

const TASKS = Number(process.env.BENCH_OFFBOARD_TASKS ?? 50);
const USERS = Number(process.env.BENCH_SCIM_USERS ?? 100_000);
const QUERIES = Number(process.env.BENCH_SCIM_QUERIES ?? 200);
const TOOLS: Record<string, Record<string, unknown>> = {
  'github.read_repo': { repo: 'acme/api' },
  'github.create_pr': { repo: 'acme/api', title: 'bench', head: 'b' },
  'web.fetch': { url: 'https://example.com/' },
};

const quantile = (sorted: number[], q: number) => sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];
const ms = (n: number) => `${n.toFixed(1).padStart(8)} ms`;

interface Client {
  (method: string, url: string, body?: unknown, headers?: Record<string, string>): Promise<{ status: number; body: Record<string, any> }>;
}

function client(o: Orchestrator, token: string): Client {
  return async (method, url, body, headers = {}) => {
    const res = await fetch(o.baseUrl + url, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
      body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    });
    const text = await res.text();
    return { status: res.status, body: text ? (JSON.parse(text) as Record<string, any>) : {} };
  };
}

async function inBatches<T, R>(items: T[], size: number, fn: (t: T) => Promise<R>): Promise<R[]> {
  const out: R[] = [];
  for (let i = 0; i < items.length; i += size) out.push(...(await Promise.all(items.slice(i, i + size).map(fn))));
  return out;
}

async function offboardingDrill(o: Orchestrator, gateway: Client, scim: Client, secret: string): Promise<void> {
  const email = `leaver-${randomUUID().slice(0, 8)}@example.com`;
  const person = await scim('POST', '/scim/v2/Users', {
    schemas: ['urn:ietf:params:scim:schemas:core:2.0:User'],
    userName: email,
    userType: 'Employee',
    emails: [{ value: email, type: 'work', primary: true }],
  });
  const userId = person.body.id as string;
  await scim('PATCH', '/scim/v2/Groups/engineering', {
    schemas: ['urn:ietf:params:scim:api:messages:2.0:PatchOp'],
    Operations: [{ op: 'add', path: 'members', value: [{ value: userId }] }],
  });

  const setUp = process.hrtime.bigint();
  const tasks = await inBatches([...Array(TASKS).keys()], 10, async () => {
    const t = await gateway('POST', '/v1/tasks', { userId, agentId: 'coding-agent', purpose: 'bench' });
    const taskId = t.body.taskId as string;
    for (const [toolId, args] of Object.entries(TOOLS)) {
      const r = await gateway('POST', `/v1/tasks/${taskId}/tool-calls`, { callId: randomUUID(), toolId, arguments: args });
      if (r.body.decision !== 'allow') throw new Error(`grant of ${toolId} refused: ${JSON.stringify(r.body)}`);
    }
    return taskId;
  });
  const grants = tasks.length * Object.keys(TOOLS).length;
  console.log(`${TASKS} running tasks of one person holding ${grants} grants, set up in ${(Number(process.hrtime.bigint() - setUp) / 1e9).toFixed(1)} s`);

  const id = `msg_${randomUUID()}`;
  const payload = JSON.stringify({ type: 'employee.offboarded', data: { userId } });
  const sent = performance.now();
  const res = await fetch(`${o.baseUrl}/v1/hr/events`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      'webhook-id': id,
      'webhook-timestamp': String(Math.floor(Date.now() / 1000)),
      'webhook-signature': new Webhook(secret).sign(id, new Date(), payload),
    },
    body: payload,
  });
  const accepted = performance.now();
  const { offboardingId } = (await res.json()) as { offboardingId: string };
  if (res.status !== 202) throw new Error(`HR event: ${res.status}`);

  // The first call after the 202, then every task's next call sent at once: each must be a deny.
  const first = await gateway('POST', `/v1/tasks/${tasks[0]}/tool-calls`, { callId: randomUUID(), toolId: 'github.read_repo', arguments: TOOLS['github.read_repo'] });
  const firstDenied = performance.now() - accepted;
  let lastDenied = 0;
  const answers = await Promise.all(
    tasks.map(async (taskId) => {
      const r = await gateway('POST', `/v1/tasks/${taskId}/tool-calls`, { callId: randomUUID(), toolId: 'github.read_repo', arguments: TOOLS['github.read_repo'] });
      lastDenied = Math.max(lastDenied, performance.now() - accepted);
      return r.body.decision as string;
    }),
  );
  const denied = answers.filter((d) => d === 'deny').length;

  const db = o.services.db;
  let allRevoked = 0;
  let summary = 0;
  for (const deadline = performance.now() + 300_000; performance.now() < deadline; ) {
    const [g] = await db.query<{ revoked: number; receipts: number }>(
      `select (select count(*)::int from grants where task_id = any($1::text[]) and revoke_status = 'revoked') as revoked,
              (select count(*)::int from decision_traces where task_id = any($1::text[]) and kind = 'revocation') as receipts`,
      [tasks],
    );
    if (!allRevoked && g.revoked >= grants && g.receipts >= grants) allRevoked = performance.now() - accepted;
    const [done] = await db.query<{ n: number }>('select count(*)::int as n from offboardings where offboarding_id = $1 and completed_at is not null', [offboardingId]);
    if (done.n) {
      summary = performance.now() - accepted;
      break;
    }
    await new Promise((r) => setTimeout(r, 10));
  }
  console.log(`HR event → 202 (person inactive, workflow started)        ${ms(accepted - sent)}`);
  console.log(`202 → their first new call answered: ${String(first.body.decision).padEnd(5)} (${first.body.reason?.code})  ${ms(firstDenied)}`);
  console.log(`202 → a call on each of the ${TASKS} tasks, sent at once: ${denied}/${TASKS} deny, the last at ${ms(lastDenied).trim()}`);
  console.log(`202 → every grant revoked with a receipt (${grants})          ${allRevoked ? ms(allRevoked) : 'not within 300 s'}`);
  console.log(`202 → offboarding summary trace written                    ${summary ? ms(summary) : 'not within 300 s'}`);
}

async function scimList(o: Orchestrator, scim: Client): Promise<void> {
  const db = o.services.db;
  const loading = performance.now();
  await db.query(
    `insert into users (id, user_name, display_name, title, department, user_type, email, active)
     select 'bench-' || g, 'bench-' || g || '@example.com', 'Bench ' || g, case when g % 5 = 0 then 'Manager' else 'Engineer' end,
            'Dept-' || (g % 47), case when g % 10 = 0 then 'Contractor' else 'Employee' end, 'bench-' || g || '@example.com', g % 20 <> 0
     from generate_series(1, $1::int) g`,
    [USERS],
  );
  await db.query('analyze users');
  console.log(`\nSCIM list over ${USERS.toLocaleString('en')} users (bulk-inserted in ${((performance.now() - loading) / 1000).toFixed(1)} s), ${QUERIES} sequential requests each`);
  const cases: [string, () => string, string][] = [
    ['userName eq (indexed)', () => `userName eq "bench-${1 + Math.floor(Math.random() * USERS)}@example.com"`, '&count=10'],
    ['department and userType, first page of 100', () => `department eq "Dept-${Math.floor(Math.random() * 47)}" and userType eq "Contractor"`, '&count=100'],
    ['active and title, sorted by userName, page 5', () => 'active eq false and title eq "Manager"', '&count=50&startIndex=201&sortBy=userName'],
  ];
  for (const [name, filter, page] of cases) {
    const times: number[] = [];
    let total = 0;
    for (let i = 0; i < QUERIES + 10; i++) {
      const t0 = performance.now();
      const r = await scim('GET', `/scim/v2/Users?filter=${encodeURIComponent(filter())}${page}`);
      if (r.status !== 200) throw new Error(`${name}: ${r.status} ${JSON.stringify(r.body)}`);
      if (i >= 10) times.push(performance.now() - t0);
      total = r.body.totalResults as number;
    }
    times.sort((a, b) => a - b);
    console.log(`${name.padEnd(46)} p50 ${ms(quantile(times, 0.5))}  p95 ${ms(quantile(times, 0.95))}  p99 ${ms(quantile(times, 0.99))}  (totalResults ${total})`);
  }
}

export async function benchIdentity(): Promise<void> {
  const tokens = { gateway: randomBytes(18).toString('base64url'), scim: randomBytes(18).toString('base64url') };
  const secret = `whsec_${randomBytes(24).toString('base64')}`;
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'aao-bench-identity-'));
  const config = loadConfig({
    ...process.env,
    AUTH_TOKENS: `gateway:${tokens.gateway},scim:${tokens.scim}`,
    HR_WEBHOOK_SECRET: secret,
    DATA_DIR: dataDir,
    PORT: '0',
    LOG_LEVEL: 'silent',
  });
  console.log(`Identity lifecycle — trace store ${config.databaseUrl ? 'PostgreSQL' : 'PGlite'}`);
  const o = await runOrchestrator(config);
  try {
    const gateway = client(o, tokens.gateway);
    const scim = client(o, tokens.scim);
    await offboardingDrill(o, gateway, scim, secret);
    await scimList(o, scim);
  } finally {
    await o.stop();
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}

if (require.main === module) exitWhenDone(benchIdentity());
