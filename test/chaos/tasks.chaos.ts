// A soak test, run on demand (`npm run chaos`), not by `npm test`: concurrent tasks of two people
// make random calls over every tool of the example bundle (repeated and conflicting callIds,
// waits), while people click cards (the right one, or anyone; some never answer), tasks end or are
// killed, TTLs run out, alice's HR record keeps changing (type, groups, manager), the policy is
// reloaded with and without a rule, and dave (a delegator) and carol (an approver) are offboarded. Optionally the worker restarts every few
// seconds (CHAOS_RESTARTS=1) or the SCIM target and Slack fail for a while (CHAOS_OUTAGES=1).
// Afterwards every task is ended and the invariants below are checked. A seed (CHAOS_SEED) picks
// the choices; timing still varies. A stuck task's history is written to CHAOS_HISTORIES (a
// directory), to replay. CHAOS_TASKS (16), CHAOS_ENGINE (pglite | postgres); CHAOS_DEBUG=1 prints
// the records of a tool a mover's revocation did not hold back. CHAOS_REPLICAS=1 (PostgreSQL) sends
// half the calls to a second API replica, which may decide on what it knew up to 1 s before.
// CHAOS_JIT=1 weights the calls to tools alice lacks, and every card is answered yes by its
// addressee at once (carol stays): access is provisioned, released after movers and granted again.
// Its tasks run until the end (no early end, no short TTL), so an agent's tasks rely on the access
// one of them provisioned, and hand it over to each other as they end.
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { taskWorkflowId } from '../../workflows/messages';
import type { Engine } from '../support/databases';
import { historyJson, SLACK_IDS, startContextWorld, withRuleFirst, type ContextWorld } from '../support/context-world';
import { requestTo, TOKENS, type Stack } from '../support/stack';
import { PgClient } from '../../src/db/pg-client';
import { createApi } from '../../src/main';
import { createServices } from '../../src/services';
import { HR_ENV, signedHrEvent } from '../identity/people';

const env = process.env;
const seed = Number(env.CHAOS_SEED ?? Date.now() % 100_000);
let world: ContextWorld;
/** How long a second replica may decide on what it knew before a change (its projection's bound). */
const REPLICA_LAG_MS = 1000;
let replica: { request: Stack['request']; stop(): Promise<void> } | undefined;
beforeAll(async () => {
  world = await startContextWorld({
    stepTimeoutSeconds: 4,
    engine: (env.CHAOS_REPLICAS ? 'postgres' : env.CHAOS_ENGINE) as Engine | undefined,
    logLevel: 'error',
    env: HR_ENV,
  });
  if (env.CHAOS_REPLICAS) {
    // Its own connections, projection and API; the same database, task queue and tokens.
    const db = PgClient.open(world.stack.database.url!);
    const services = await createServices(world.stack.services.config, { db });
    const app = await createApi(services, world.stack.client);
    await app.listen(0, '127.0.0.1');
    replica = {
      request: requestTo((await app.getUrl()).replace('[::1]', '127.0.0.1')),
      async stop() {
        await app.close();
        await services.close();
        await db.close();
      },
    };
  }
}, 120_000);
afterAll(async () => {
  await replica?.stop();
  await world?.stop();
});

let state = seed;
const random = () => (state = (state * 1103515245 + 12345) % 2147483648) / 2147483648;
const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)];
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Arguments each tool's schema accepts (some of them escalate: a large refund, a customer export). */
const TOOLS: Record<string, () => Record<string, unknown>> = {
  'github.read_repo': () => ({ repo: 'acme/api' }),
  'github.create_pr': () => ({ repo: 'acme/api', title: 't', head: pick(['a', 'b']) }),
  'github.delete_branch': () => ({ repo: 'acme/api', branch: pick(['x', 'y']) }),
  'wiki.read_page': () => ({ pageId: pick(['p1', 'p2']) }),
  'wiki.edit_page': () => ({ pageId: 'p1', content: 'c' }),
  'crm.read_customer': () => ({ customerId: pick(['c1', 'c2']) }),
  'crm.export_customers': () => ({ segment: 'all', destination: 'https://example.com/x' }),
  'payments.refund': () => ({ orderId: 'o1', amount: pick([10, 5000]) }),
  'web.fetch': () => ({ url: 'https://example.com/' }),
  'web.post': () => ({ url: 'https://example.com/', body: 'x' }),
};
const AGENTS = { alice: ['coding-agent', 'research-agent'], dave: ['support-agent'] } as const;

/** What alice's HR record becomes, in turn: each changes what the policy allows her, or who approves. */
const ALICE_STATES = [
  { userType: 'Contractor', groups: ['engineering'], department: 'Engineering', manager: 'bob' },
  { userType: 'Employee', groups: ['support'], department: 'Support', manager: 'carol' },
  { userType: 'Employee', groups: ['engineering'], department: 'Engineering', manager: 'bob' },
] as const;

/** One reload of the policy: the version it activated, sent and answered (epoch ms). */
interface Reload {
  version: string;
  sentAt: number;
  answeredAt: number;
}

/** One change of alice's record: sent, and answered (epoch ms). */
interface Change {
  state: (typeof ALICE_STATES)[number];
  sentAt: number;
  answeredAt: number;
}

interface Sent {
  taskId: string;
  callId: string;
  toolId: string;
  args: Record<string, unknown>;
  status: number;
  body: Record<string, any>;
  sentAt: number;
  answeredAt: number;
  /** The callId was used before (its first answer may be given again). */
  again: boolean;
  /** How long after a change the replica that answered may still not know of it (0 on the first). */
  lagMs: number;
  /** Sent with waitSeconds: the answer may wait for a human. */
  waited: boolean;
}

it(`keeps every invariant through random concurrent work (seed ${seed})`, async () => {
  const problems: string[] = [];
  const sent: Sent[] = [];
  /** When each task's end (or kill switch) returned, in epoch ms. */
  const ended = new Map<string, number>();
  let offboardedAt = Infinity;
  let running = true;
  const changes: Change[] = [];
  const reloads: Reload[] = [];

  const clicked = new Set<unknown>();
  const clicking = (async () => {
    while (running) {
      for (const card of world.slack.callsOf('chat.postMessage')) {
        if (clicked.has(card)) continue;
        clicked.add(card);
        const buttons = ((card.body.blocks ?? []) as { type: string; elements?: { action_id: string; value: string }[] }[])
          .filter((b) => b.type === 'actions')
          .flatMap((b) => b.elements ?? []);
        if (!buttons.length) continue;
        // Cards go to a person's DM channel: D… for the user U….
        const addressee = Object.values(SLACK_IDS).find((id) => `D${id.slice(1)}` === card.body.channel);
        const jit = Boolean(env.CHAOS_JIT);
        const who = (jit || random() < 0.7) && addressee ? addressee : pick(Object.values(SLACK_IDS));
        const button = (jit && buttons.find((b) => b.action_id === 'approve_task' || b.action_id === 'confirm')) || pick(buttons);
        const answers = jit || random() >= 0.3; // else never answered: the step times out
        void (async () => {
          await sleep(random() * (jit ? 300 : 1500));
          if (!answers) return;
          const status = await world.click(who, button.action_id, button.value);
          if (status >= 500) problems.push(`click ${button.action_id} by ${who}: ${status}`);
        })();
      }
      await sleep(50);
    }
  })();

  const disrupting = (async () => {
    while (running) {
      await sleep(800 + random() * 2000);
      if (!running) break;
      if (env.CHAOS_RESTARTS) {
        await world.stack.stopWorker();
        await sleep(random() * 1500);
        await world.stack.startWorker();
      }
      if (env.CHAOS_OUTAGES) {
        world.scimProxy.failing = true;
        if (random() < 0.5) world.slack.failNext(1 + Math.floor(random() * 3), { status: 500 });
        await sleep(random() * 3000);
        world.scimProxy.failing = false;
      }
    }
  })();

  // Alice's record changes while her calls run; each change must be honoured by the very next call.
  const churning = (async () => {
    for (let turn = 0; running; turn++) {
      await sleep(300 + random() * 1200);
      if (!running) break;
      const state = ALICE_STATES[turn % ALICE_STATES.length];
      const sentAt = Date.now();
      const res = await signedHrEvent(world.stack, { type: 'employee.updated', data: { userId: 'alice', ...state } });
      if (res.status !== 202) problems.push(`HR update of alice: ${res.status} ${JSON.stringify(res.body)}`);
      changes.push({ state, sentAt, answeredAt: Date.now() });
    }
  })();

  // The policy is reloaded, in turn with a rule that forbids alice's wiki edits and without it: each
  // version must decide the very next calls.
  const rulesFile = path.join(world.stack.services.config.governanceDir, 'rules.yaml');
  const rules = fs.readFileSync(rulesFile, 'utf8');
  const withoutWikiEdits = withRuleFirst(rules, {
    id: 'chaos-deny-alice-wiki-edits',
    when: 'tool.id eq "wiki.edit_page" and user.id eq "alice"',
    then: 'deny',
    reason: { code: 'chaos', message: 'Not today.' },
  });
  const reloading = (async () => {
    for (let turn = 0; running; turn++) {
      await sleep(1000 + random() * 3000);
      if (!running) break;
      fs.writeFileSync(rulesFile, turn % 2 ? rules : withoutWikiEdits);
      const sentAt = Date.now();
      const res = await world.stack.request('POST', '/v1/policy/reload', { token: TOKENS.admin });
      if (res.status !== 200) problems.push(`policy reload: ${res.status} ${JSON.stringify(res.body)}`);
      else reloads.push({ version: res.body.version, sentAt, answeredAt: Date.now() });
    }
  })();

  const call = async (taskId: string, toolId: string, args: Record<string, unknown>, callId?: string, waitSeconds = 0): Promise<Sent> => {
    const sentAt = Date.now();
    const id = callId ?? `c-${randomUUID()}`;
    const onReplica = replica && random() < 0.5;
    const res = onReplica
      ? await replica!.request('POST', `/v1/tasks/${taskId}/tool-calls${waitSeconds ? `?waitSeconds=${waitSeconds}` : ''}`, { body: { callId: id, toolId, arguments: args } })
      : await world.call(taskId, toolId, args, { callId: id, waitSeconds });
    const record = {
      taskId,
      callId: id,
      toolId,
      args,
      status: res.status,
      body: res.body as Record<string, any>,
      sentAt,
      answeredAt: Date.now(),
      again: callId !== undefined,
      lagMs: onReplica ? REPLICA_LAG_MS : 0,
      waited: waitSeconds > 0,
    };
    sent.push(record);
    if (res.status >= 500) problems.push(`call ${toolId}: ${res.status} ${JSON.stringify(res.body)}`);
    return record;
  };

  const endTask = async (taskId: string, kill: boolean) => {
    const res = kill
      ? await world.stack.request('POST', `/v1/tasks/${taskId}/revoke`, { token: TOKENS.admin, body: { reason: 'chaos' } })
      : await world.stack.request('POST', `/v1/tasks/${taskId}/end`);
    if (res.status !== 200) problems.push(`${kill ? 'kill switch' : 'end'} of ${taskId}: ${res.status} ${JSON.stringify(res.body)}`);
    if (!ended.has(taskId)) ended.set(taskId, Date.now());
  };

  const script = async (userId: 'alice' | 'dave', agentId: string): Promise<string | undefined> => {
    const started = await world.stack.request('POST', '/v1/tasks', { body: { userId, agentId, purpose: 'chaos', ttlSeconds: env.CHAOS_JIT ? 600 : pick([8, 600, 600, 600]) } });
    if (started.status !== 201) {
      if (started.status >= 500) problems.push(`task start: ${started.status}`);
      return undefined; // dave after his offboarding: refused
    }
    const taskId = started.body.taskId as string;
    const mine: Sent[] = [];
    for (let step = 0, steps = 8 + Math.floor(random() * 16); step < steps; step++) {
      const r = random();
      if (r < 0.6) {
        const toolId = env.CHAOS_JIT && random() < 0.5 ? pick(['crm.read_customer', 'wiki.edit_page', 'payments.refund']) : pick(Object.keys(TOOLS));
        const together = random() < 0.3 ? 3 : 1;
        const waitSeconds = random() < 0.2 ? 2 : 0;
        mine.push(...(await Promise.all(Array.from({ length: together }, () => call(taskId, toolId, TOOLS[toolId](), undefined, waitSeconds)))));
      } else if (r < 0.75 && mine.length) {
        const earlier = pick(mine);
        const same = random() < 0.6;
        const again = await call(taskId, same ? earlier.toolId : pick(Object.keys(TOOLS)), same ? earlier.args : { other: random() }, earlier.callId);
        if (same && again.status === 409) problems.push(`the same call again was refused: ${earlier.toolId}`);
      } else if (r < 0.85 && mine.length) {
        const res = await world.result(taskId, pick(mine).callId);
        if (res.status >= 500) problems.push(`result: ${res.status}`);
      } else if (r < 0.94 || env.CHAOS_JIT) {
        await sleep(random() * 2000);
      } else {
        await endTask(taskId, r >= 0.97);
      }
    }
    return taskId;
  };

  const scripts: Promise<string | undefined>[] = [];
  for (let i = 0; i < Number(env.CHAOS_TASKS ?? 16); i++) {
    const userId = random() < 0.7 ? 'alice' : 'dave';
    scripts.push(script(userId, pick(AGENTS[userId])));
  }
  // Carol approves for the security group: once she is gone, no answer of hers may count.
  let carolGoneAt = Infinity;
  const approverLeaving = (async () => {
    await sleep(3000 + random() * 6000);
    if (env.CHAOS_JIT) return; // she approves the access
    const res = await world.stack.request('DELETE', '/scim/v2/Users/carol', { token: TOKENS.scim });
    carolGoneAt = Date.now();
    if (res.status >= 300) problems.push(`carol's offboarding: ${res.status}`);
  })();
  const offboarding = (async () => {
    await sleep(2000 + random() * 4000);
    const res = await world.stack.request('DELETE', '/scim/v2/Users/dave', { token: TOKENS.scim });
    offboardedAt = Date.now();
    if (res.status >= 300) problems.push(`offboarding: ${res.status}`);
  })();
  const taskIds = (await Promise.all(scripts)).filter((t): t is string => t !== undefined);
  await Promise.all([offboarding, approverLeaving]);
  running = false;
  await Promise.all([clicking, disrupting, churning, reloading]);
  world.scimProxy.failing = false;
  for (const taskId of taskIds) await endTask(taskId, false);

  const verdict = await world.stack.request('GET', '/v1/traces/verify', { token: TOKENS.admin });
  if (!verdict.body.ok) problems.push(`the chain does not verify: ${JSON.stringify(verdict.body)}`);
  for (const taskId of taskIds) problems.push(...(await invariantsOf(taskId, sent, ended.get(taskId) ?? Infinity, offboardedAt)));
  // Every task ended: nothing JIT provisioned is left in the target, handed over from task to task or not.
  for (const group of ['crm-users', 'wiki-readers', 'wiki-editors']) {
    if (world.scim.membersOf(group).length) problems.push(`${group} still has members ${JSON.stringify(world.scim.membersOf(group))}`);
  }
  for (const u of world.scim.users.values()) {
    if (!u.active) continue;
    problems.push(`the account ${u.userName} is still active`);
    if (env.CHAOS_DEBUG) {
      // Who touched it: the target's requests on it, and the journal and JIT records that name it.
      const touched = world.scim.requests.filter((r) => r.path.includes(u.id) || r.query.includes(u.userName) || [u.id, u.userName].some((x) => JSON.stringify(r.body ?? {}).includes(x)));
      console.log(touched.map((r) => `${r.method} ${r.path} ${r.query} ${r.status}${r.faulted ? ' (faulted)' : ''} ${JSON.stringify(r.body ?? {}).slice(0, 160)}`).join('\n'));
      for (const table of ['provisioning_intents', 'jit_grants']) {
        console.log(table, JSON.stringify(await world.stack.database.db.query(`select * from ${table} where account_id = $1`, [u.id]), null, 1));
      }
    }
  }
  const [{ handed }] = await world.stack.database.db.query<{ handed: number }>("select count(*)::int as handed from decision_traces where body->>'revocation' = 'handed_over'");
  const carols = await world.stack.database.db.query<{ task_id: string; at: string }>(
    `select task_id, a->>'at' as at from decision_traces, jsonb_array_elements(body->'approvals') a where kind = 'decision' and a->>'personId' = 'carol'`,
  );
  const [{ released }] = await world.stack.database.db.query<{ released: number }>(
    "select count(*)::int as released from decision_traces where kind = 'revocation' and body->>'cause' = 'mover_reevaluation'",
  );
  for (const c of carols) if (Date.parse(c.at) > carolGoneAt) problems.push(`${c.task_id}: carol's answer at ${c.at} counted after her offboarding`);
  const honoured = await changesHonoured(sent, changes);
  problems.push(...honoured.problems);
  const versioned = await reloadsHonoured(sent, reloads);
  problems.push(...versioned.problems);

  const outcomes = new Map<string, number>();
  for (const s of sent) {
    const key = `${s.status} ${s.body.decision ?? s.body.code ?? ''} ${s.body.reason?.code ?? ''}`;
    outcomes.set(key, (outcomes.get(key) ?? 0) + 1);
  }
  const slowest = sent
    .filter((x) => !x.waited)
    .sort((a, b) => b.answeredAt - b.sentAt - (a.answeredAt - a.sentAt))
    .slice(0, 3)
    .map((x) => `${x.answeredAt - x.sentAt} ms ${x.toolId} ${x.status} ${x.body.decision ?? x.body.code ?? ''} ${x.body.reason?.code ?? ''}${x.lagMs ? ' (replica)' : ''}`);
  // Why provisioning failed, when it did: the target's outage, or tasks of one person waiting on each other.
  const unprovisioned = [...new Set(sent.filter((x) => x.body.reason?.code === 'provisioning_failed').map((x) => x.body.reason?.message))];
  console.log(`seed ${seed}: ${taskIds.length} tasks, ${sent.length} calls, ${clicked.size} cards, ${changes.length} HR changes (${honoured.checked} calls decided between them), ${reloads.length} policy reloads (${versioned.checked}), ${carols.length} answers by carol, ${released} entitlements released after a mover, ${handed} hand-overs of access; slowest answers without a wait: ${slowest.join(', ')}\n${[...outcomes].map(([k, n]) => `${n} × ${k}`).join('\n')}${unprovisioned.length ? `\nprovisioning failed: ${unprovisioned.join('; ')}` : ''}`);
  expect(problems).toEqual([]);
});

/** What must hold for a task once it ended (`endReturned`, and dave's offboarding, in epoch ms). */
async function invariantsOf(taskId: string, sent: Sent[], endReturned: number, offboardedAt: number): Promise<string[]> {
  const problems: string[] = [];
  const view = (await world.task(taskId)).body;
  const endedAt = Math.min(endReturned, view.userId === 'dave' ? offboardedAt : Infinity);
  if (view.status === 'active') {
    problems.push(`${taskId} is still active`);
    if (env.CHAOS_HISTORIES) {
      const history = await world.stack.client.workflow.getHandle(taskWorkflowId(taskId)).fetchHistory();
      fs.writeFileSync(path.join(env.CHAOS_HISTORIES, `${taskId}.json`), JSON.stringify(historyJson(history), null, 1));
    }
  }
  if (view.context.length) problems.push(`${taskId}: context left ${JSON.stringify(view.context)}`);
  if (view.pending.length) problems.push(`${taskId}: calls left pending ${JSON.stringify(view.pending)}`);
  if (view.revoked.some((g: { status: string }) => g.status !== 'revoked')) problems.push(`${taskId}: grants not revoked ${JSON.stringify(view.revoked)}`);
  if (view.provisioned.some((p: { status: string }) => p.status !== 'revoked' && p.status !== 'handed_over')) problems.push(`${taskId}: access not removed ${JSON.stringify(view.provisioned)}`);

  const traces = await world.traces(taskId);
  const byId = new Map(traces.map((t) => [t.traceId, t]));
  // The collapse's receipts: a grant's context_removed, a JIT access's deprovisioned. A mover's come
  // while the task goes on: its grants' receipts and the removals of their access (with its cause).
  const firstReceipt =
    traces.find((t) => t.kind === 'revocation' && (t.body.revocation === 'context_removed' || (t.body.revocation === 'deprovisioned' && !t.body.cause)))?.seq ?? Infinity;
  const decisions = traces.filter((t) => t.kind === 'decision');
  const perCall = new Map<string, number>();
  // A tool a mover's re-evaluation took away comes back only by a new grant: for a held call, decided
  // when answered, after the revocation; else for a call sent after it (one sent before may be
  // decided on the grant it read, and a second replica may still allow it for up to its lag). A
  // decision's time is its call's.
  const moverRevoked = new Map<string, { at: number; seq: number }>();
  const held = new Set(traces.filter((t) => t.kind === 'escalation').map((t) => t.body.callId));
  // A call's first send decided it (a repeat is answered from its record).
  const sentFor = new Map(sent.filter((x) => x.taskId === taskId && !x.again).map((x) => [x.callId, x]));
  for (const t of traces) {
    if (t.kind === 'revocation' && t.body.revocation === 'mover_reevaluation') moverRevoked.set(t.body.toolId!, { at: Date.parse(t.occurredAt), seq: t.seq });
    if (t.kind !== 'decision' || t.body.decision !== 'allow') continue;
    const revoked = moverRevoked.get(t.body.toolId!);
    const call = sentFor.get(t.body.callId!);
    if (t.body.grantedVia) moverRevoked.delete(t.body.toolId!);
    else if (revoked !== undefined && (held.has(t.body.callId) || Date.parse(t.occurredAt) > revoked.at + (call?.lagMs ?? 0))) {
      const when = call ? `, sent ${call.sentAt - revoked.at} ms after the revocation's time and answered ${call.answeredAt - revoked.at} ms after` : '';
      problems.push(`${taskId}: ${t.body.toolId} allowed in context after a mover revoked it (seq ${t.seq}, the revocation's ${revoked.seq}${call?.lagMs ? ', on the second replica' : ''}${when})`);
      if (env.CHAOS_DEBUG) console.log(traces.filter((x) => x.body.toolId === t.body.toolId).map((x) => `${x.seq} ${x.kind} ${x.occurredAt} ${x.body.callId} ${x.body.decision} via=${x.body.grantedVia} ${x.body.revocation ?? ''} ${x.body.reasonCode ?? ''} ${JSON.stringify((x.body.snapshot as any)?.user?.groups)} ${(x.body.snapshot as any)?.user?.userType}`).join('\n'));
    }
  }
  for (const d of decisions) {
    perCall.set(d.body.callId!, (perCall.get(d.body.callId!) ?? 0) + 1);
    if (d.body.decision === 'allow' && d.seq > firstReceipt) problems.push(`${taskId}: ${d.body.toolId} allowed after a revocation receipt`);
    const approvals = (d.body.approvals ?? []) as { personId: string; choice: string }[];
    if (approvals.some((a) => a.personId === d.body.userId && a.choice !== 'confirm')) problems.push(`${taskId}: approved by the delegator`);
  }
  for (const [callId, n] of perCall) if (n > 1) problems.push(`${taskId}: ${n} decisions for ${callId}`);

  for (const s of sent.filter((x) => x.taskId === taskId && (x.status === 200 || x.status === 202))) {
    const record = byId.get(s.body.traceId);
    if (!record) problems.push(`${taskId}: ${s.body.decision} for ${s.toolId} has no trace record`);
    else if (s.body.decision !== 'pending' && record.body.decision !== s.body.decision) problems.push(`${taskId}: answered ${s.body.decision}, recorded ${record.body.decision}`);
    else if (record.body.toolId !== s.toolId) problems.push(`${taskId}: answered for ${s.toolId} with the record of ${record.body.toolId}`);
    // A callId decided before the end keeps its answer when asked again (its credential is dead).
    const decidedBefore = record && Date.parse(record.occurredAt) < endedAt;
    if (s.body.decision === 'allow' && s.sentAt > endedAt + s.lagMs && !decidedBefore) problems.push(`${taskId}: ${s.toolId} allowed after the task ended`);
    if (s.body.decision === 'allow' && s.body.credentialRef) {
      const resolved = await world.stack.request('POST', '/v1/credentials/resolve', { body: { credentialRef: s.body.credentialRef } });
      if (resolved.status === 200 || resolved.status >= 500) problems.push(`${taskId}: the credential of ${s.toolId} resolves after the end (${resolved.status})`);
    }
    if (s.body.decision === 'pending' && (await world.result(taskId, s.callId)).body.decision === 'pending') problems.push(`${taskId}: ${s.toolId} still pending`);
  }
  const [row] = await world.stack.database.db.query<{ session: { calls?: number } }>('select session from tasks where task_id = $1', [taskId]);
  const counted = decisions.filter((d) => d.body.decision === 'allow' && d.body.appId && d.body.actionClass).length;
  if ((row?.session.calls ?? 0) !== counted) problems.push(`${taskId}: session counts ${row?.session.calls} calls, the trace ${counted} allows`);
  return problems;
}

/**
 * The first calls (not a callId used again) sent after an event was answered, and answered before
 * the next event was sent, with their decision records: the calls that event must have decided.
 */
async function decidedAfter<E extends { sentAt: number; answeredAt: number }>(sent: Sent[], events: E[]): Promise<{ event: E; s: Sent; body: Record<string, any> }[]> {
  const out: { event: E; s: Sent; body: Record<string, any> }[] = [];
  for (const [k, event] of events.entries()) {
    const nextSent = events[k + 1]?.sentAt ?? Infinity;
    for (const s of sent.filter((x) => !x.again && x.status === 200 && x.body.decision !== 'pending' && x.sentAt > event.answeredAt + x.lagMs && x.answeredAt < nextSent)) {
      const [row] = await world.stack.database.db.query<{ body: Record<string, any> }>("select body from decision_traces where trace_id = $1 and kind = 'decision'", [s.body.traceId]);
      if (row) out.push({ event, s, body: row.body });
    }
  }
  return out;
}

/** Every call alice's HR change must have decided holds her new record in its snapshot. */
async function changesHonoured(sent: Sent[], changes: Change[]): Promise<{ problems: string[]; checked: number }> {
  const problems: string[] = [];
  let checked = 0;
  for (const { event, s, body } of await decidedAfter(sent, changes)) {
    const user = body.userId === 'alice' ? (body.snapshot?.user as { userType: string; groups: string[]; manager?: string } | undefined) : undefined;
    if (!user) continue; // dave's, or decided before the policy read the person (an inactive task)
    checked++;
    if (user.userType !== event.state.userType || JSON.stringify(user.groups) !== JSON.stringify(event.state.groups) || user.manager !== event.state.manager) {
      problems.push(`${s.taskId}: ${s.toolId} decided on ${JSON.stringify(user)} after alice became ${JSON.stringify(event.state)}`);
    }
  }
  return { problems, checked };
}

/** Every call a reload must have decided is decided by the version it activated. */
async function reloadsHonoured(sent: Sent[], reloads: Reload[]): Promise<{ problems: string[]; checked: number }> {
  const problems: string[] = [];
  let checked = 0;
  for (const { event, s, body } of await decidedAfter(sent, reloads)) {
    if (!body.policyVersion) continue; // refused before the policy was read (the task had ended)
    checked++;
    if (body.policyVersion !== event.version) {
      problems.push(`${s.taskId}: ${s.toolId} decided by ${body.policyVersion} after ${event.version} was activated (sent ${s.sentAt - event.answeredAt} ms after${s.lagMs ? ', on the second replica' : ''})`);
    }
  }
  return { problems, checked };
}
