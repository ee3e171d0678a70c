// The whole stack wired for the Dynamic Agent Context tests: the Slack Web API double (people's
// Slack ids from governance/directory.yaml), a SCIM target behind a switchable proxy (to make it
// fail and recover), a governance bundle copy with short approver-route timeouts, signed Slack
// clicks, and recording of workflow histories for the replay test.
import { createHmac, randomUUID } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { WorkflowHandleWithFirstExecutionRunId } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import type { TraceRecord } from '../../src/audit/trace-types';
import { taskWorkflow, type TaskWorkflowOptions } from '../../workflows/task-workflow';
import { AGENT_ID, DELEGATOR_ID, taskWorkflowId, type TaskInput } from '../../workflows/messages';
import { startScimTarget, type ScimTarget } from './scim-target';
import { sendSignedClick, startSlackDouble, type SlackCall, type SlackDouble } from './slack-double';
import { startStack, TOKENS, type Stack } from './stack';
import type { Engine } from './databases';
import { eventually } from './eventually';

const { History } = temporal.api.history.v1;

/**
 * A history as JSON: protobufjs's own JSON form (enums by name, int64 and bytes as strings), read
 * back by `historyFromJson`. Not the SDK's historyToJSON/historyFromJSON: in this install they throw
 * "type must be a Type", because @temporalio/common and @temporalio/proto each nest their own copy
 * of protobufjs 8 (the top-level slot holds protobufjs 7 for OpenTelemetry).
 */
export function historyJson(history: temporal.api.history.v1.IHistory): Record<string, unknown> {
  return History.toObject(History.fromObject(history), { longs: String, enums: String, bytes: String });
}

export function historyFromJson(json: unknown): temporal.api.history.v1.History {
  return History.fromObject(json as Record<string, unknown>);
}

const SLACK_SIGNING_SECRET = 'slack-signing-secret-for-context-tests';
const SLACK_BOT_TOKEN = 'xoxb-context-tests';
const APPROVAL_SIGNING_KEY = 'approval-signing-key-for-context-tests-0123456789';

/** A rules.yaml text with `rule` before the others. */
export function withRuleFirst(rulesYaml: string, rule: Record<string, unknown>): string {
  const doc = parseYaml(rulesYaml) as { rules: object[] };
  doc.rules.unshift(rule);
  return stringifyYaml(doc);
}

/** Slack users of the directory's people (governance/directory.yaml). */
export const SLACK_IDS = { alice: 'U0ALICE', bob: 'U0BOB', carol: 'U0CAROL', dave: 'U0DAVE' } as const;

/**
 * A copy of governance/ whose approver-route steps all time out after `stepTimeoutSeconds`, and
 * whose `manager` route has a second step (group:security, i.e. carol) so that a step that times
 * out visibly moves on to somebody else.
 */
export function governanceCopy(stepTimeoutSeconds: number): { dir: string; remove(): void } {
  const source = path.resolve(__dirname, '../../governance');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'governance-'));
  for (const f of fs.readdirSync(source)) fs.copyFileSync(path.join(source, f), path.join(dir, f));
  const file = path.join(dir, 'routes.yaml');
  const routes = parseYaml(fs.readFileSync(file, 'utf8')) as { routes: { id: string; steps: { approvers: string[]; timeoutSeconds: number }[] }[] };
  for (const route of routes.routes) {
    if (route.id === 'manager') route.steps.push({ approvers: ['group:security'], timeoutSeconds: stepTimeoutSeconds });
    for (const step of route.steps) step.timeoutSeconds = stepTimeoutSeconds;
  }
  fs.writeFileSync(file, stringifyYaml(routes));
  return { dir, remove: () => fs.rmSync(dir, { recursive: true, force: true }) };
}

/** A proxy in front of the SCIM target that answers 503 to everything while `failing`. */
export interface FlakyProxy {
  url: string;
  failing: boolean;
  /** Requests answered 503 so far. */
  refused: number;
  stop(): Promise<void>;
}

async function startFlakyProxy(targetUrl: string): Promise<FlakyProxy> {
  const upstream = new URL(targetUrl);
  const server = http.createServer((req, res) => {
    if (proxy.failing) {
      proxy.refused++;
      req.resume();
      res
        .writeHead(503, { 'content-type': 'application/scim+json' })
        .end(JSON.stringify({ schemas: ['urn:ietf:params:scim:api:messages:2.0:Error'], status: '503', detail: 'target down (test)' }));
      return;
    }
    const out = http.request({ host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers: req.headers }, (r) => {
      res.writeHead(r.statusCode ?? 502, r.headers);
      r.pipe(res);
    });
    out.on('error', () => res.writeHead(502).end());
    req.pipe(out);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const proxy: FlakyProxy = {
    url: `http://127.0.0.1:${port}${upstream.pathname}`,
    failing: false,
    refused: 0,
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
  return proxy;
}

export interface Card {
  approvalId: string;
  digest: string;
  /** The buttons' value (approval id and digest), as Slack sends it back on a click. */
  value: string;
  actions: string[];
  text: string;
  call: SlackCall;
}

type Response = Awaited<ReturnType<Stack['request']>>;

export interface ContextWorld {
  stack: Stack;
  slack: SlackDouble;
  scim: ScimTarget;
  /** What the SCIM secrets point at: the target through a switchable proxy. */
  scimProxy: FlakyProxy;
  /** A new agent of `owner` (default alice): no other task's grant makes a tool agent-held for it. */
  newAgent(owner?: string): Promise<string>;
  /** A task over HTTP (the API starts the workflow with default options). */
  newTask(body?: { userId?: string; agentId?: string; ttlSeconds?: number; taskId?: string }): Promise<string>;
  /** A task whose workflow the test starts itself, with options (short timeouts, low history limit). */
  startTaskWorkflow(
    opts?: { userId?: string; agentId?: string; ttlSeconds?: number } & TaskWorkflowOptions,
  ): Promise<{ taskId: string; handle: WorkflowHandleWithFirstExecutionRunId<typeof taskWorkflow> }>;
  call(taskId: string, toolId: string, args?: Record<string, unknown>, opts?: { callId?: string; waitSeconds?: number }): Promise<Response>;
  result(taskId: string, callId: string): Promise<Response>;
  task(taskId: string): Promise<Response>;
  /** The card posted to `slackUserId` for the task (the n-th one, counting from 0), waiting for it. */
  card(slackUserId: string, taskId: string, opts?: { nth?: number; timeoutMs?: number }): Promise<Card>;
  /** A signed click on a card button, through POST /slack/events. */
  click(slackUserId: string, action: string, value: string, comment?: string): Promise<number>;
  /**
   * A call held for approval (202), approved for the task by `slackUserId` on its card (the task's
   * n-th card to them); `decided` is the answer a gateway waiting on the call gets.
   */
  approvedBy(
    slackUserId: string,
    taskId: string,
    toolId: string,
    args: Record<string, unknown>,
    opts?: { nth?: number; waitSeconds?: number },
  ): Promise<{ callId: string; card: Card; decided: Promise<Response> }>;
  /** The ephemeral refusal Slack showed `slackUserId` after call index `from`. */
  ephemeral(slackUserId: string, from: number): Promise<SlackCall>;
  /** Every trace record of the task, in chain order. */
  traces(taskId: string): Promise<TraceRecord[]>;
  /** Polls `probe` until it returns something truthy, or fails after `timeoutMs`. */
  eventually: typeof eventually;
  /** The task workflow's history as text, every payload decoded (what a secret scan must read). */
  historyText(taskId: string): Promise<string>;
  /** Writes the workflow's history to test/histories/<name>.json when RECORD_HISTORIES=1. */
  recordHistory(name: string, workflowId: string, runId?: string): Promise<void>;
  /** Runs `during` under a policy version with `rule` first (reloaded over HTTP), then restores the policy. */
  withRule(rule: Record<string, unknown>, during: () => Promise<void>): Promise<void>;
  stop(): Promise<void>;
}

const buttonsOf = (call: SlackCall): { action: string; value: string }[] =>
  ((call.body.blocks ?? []) as { type: string; elements?: { action_id?: string; value?: string }[] }[])
    .filter((b) => b.type === 'actions')
    .flatMap((b) => b.elements ?? [])
    .map((e) => ({ action: e.action_id ?? '', value: e.value ?? '' }));

export async function startContextWorld(
  opts: { stepTimeoutSeconds?: number; engine?: Engine; logLevel?: string; env?: Record<string, string> } = {},
): Promise<ContextWorld> {
  const governance = governanceCopy(opts.stepTimeoutSeconds ?? 300);
  // Whatever started is stopped again if a later part fails to start.
  const started: { stop(): Promise<void> }[] = [{ stop: async () => governance.remove() }];
  const start = async <T extends { stop(): Promise<void> }>(s: Promise<T>): Promise<T> => {
    const server = await s;
    started.unshift(server);
    return server;
  };
  let slack: SlackDouble, scim: ScimTarget, scimProxy: FlakyProxy, stack: Stack;
  try {
    slack = await start(startSlackDouble({ users: Object.entries(SLACK_IDS).map(([person, id]) => ({ id, email: `${person}@example.com` })) }));
    scim = await start(startScimTarget());
    for (const group of ['crm-users', 'wiki-readers', 'wiki-editors']) scim.addGroup(group);
    scimProxy = await start(startFlakyProxy(scim.url));
    stack = await start(
      startStack({
        engine: opts.engine,
        env: { SLACK_BOT_TOKEN, SLACK_SIGNING_SECRET, SLACK_API_URL: slack.url, APPROVAL_SIGNING_KEY, GOVERNANCE_DIR: governance.dir, ...(opts.logLevel ? { LOG_LEVEL: opts.logLevel } : {}), ...opts.env },
      }),
    );
    for (const app of ['crm', 'wiki']) await stack.services.secrets.put(`apps/${app}/scim`, { baseUrl: scimProxy.url, token: scim.token });
  } catch (err) {
    for (const s of started) await s.stop().catch(() => undefined);
    throw err;
  }

  const world: ContextWorld = {
    stack,
    slack,
    scim,
    scimProxy,
    async newAgent(owner = 'alice') {
      const id = `agent-${randomUUID().slice(0, 8)}`;
      await stack.database.db.query('insert into agents (id, name, owner_id) values ($1, $2, $3)', [id, `Test agent ${id}`, owner]);
      return id;
    },
    async newTask(body = {}) {
      const res = await stack.request('POST', '/v1/tasks', { body: { userId: 'alice', agentId: 'coding-agent', purpose: 'context tests', ...body } });
      if (res.status !== 201) throw new Error(`POST /v1/tasks answered ${res.status}: ${JSON.stringify(res.body)}`);
      return res.body.taskId as string;
    },
    async startTaskWorkflow({ userId = 'alice', agentId = 'coding-agent', ttlSeconds = 3600, ...options } = {}) {
      const taskId = `ctx-${randomUUID()}`;
      const now = new Date();
      const input: TaskInput = {
        taskId,
        tenant: stack.services.config.tenant,
        userId,
        agentId,
        purpose: 'context tests',
        createdAt: now.toISOString(),
        expiresAt: new Date(now.getTime() + ttlSeconds * 1000).toISOString(),
      };
      await stack.services.tasks.create({ ...input, workflowId: taskWorkflowId(taskId) });
      const handle = await stack.client.workflow.start(taskWorkflow, {
        workflowId: taskWorkflowId(taskId),
        taskQueue: stack.taskQueue,
        typedSearchAttributes: [
          { key: DELEGATOR_ID, value: userId },
          { key: AGENT_ID, value: agentId },
        ],
        args: [input, options],
      });
      return { taskId, handle };
    },
    call(taskId, toolId, args = {}, o = {}) {
      const query = o.waitSeconds ? `?waitSeconds=${o.waitSeconds}` : '';
      return stack.request('POST', `/v1/tasks/${taskId}/tool-calls${query}`, { body: { callId: o.callId ?? `call-${randomUUID()}`, toolId, arguments: args } });
    },
    result: (taskId, callId) => stack.request('GET', `/v1/tasks/${taskId}/tool-calls/${callId}`),
    task: (taskId) => stack.request('GET', `/v1/tasks/${taskId}`),
    async card(slackUserId, taskId, o = {}) {
      const nth = o.nth ?? 0;
      const cards = () => slack.callsOf('chat.postMessage').filter((c) => c.body.channel === slackUserId && c.body.metadata?.event_payload?.taskId === taskId);
      await slack.waitFor('chat.postMessage', () => cards().length > nth, o.timeoutMs ?? 15_000);
      const call = cards()[nth];
      const buttons = buttonsOf(call);
      const value = buttons[0]?.value ?? '';
      const parsed = JSON.parse(value) as { a: string; d: string };
      return { approvalId: parsed.a, digest: parsed.d, value, actions: buttons.map((b) => b.action), text: String(call.body.text), call };
    },
    click(slackUserId, action, value, comment) {
      return sendSignedClick({ baseUrl: stack.baseUrl, signingSecret: SLACK_SIGNING_SECRET, responseUrl: `${slack.url}response`, slackUserId, action, value, comment });
    },
    async approvedBy(slackUserId, taskId, toolId, args, o = {}) {
      const callId = `call-${randomUUID()}`;
      const held = await world.call(taskId, toolId, args, { callId });
      if (held.status !== 202) throw new Error(`${toolId} was not held for approval: ${held.status} ${JSON.stringify(held.body)}`);
      const card = await world.card(slackUserId, taskId, { nth: o.nth });
      const decided = world.call(taskId, toolId, args, { callId, waitSeconds: o.waitSeconds ?? 30 });
      const clicked = await world.click(slackUserId, 'approve_task', card.value);
      if (clicked !== 200) throw new Error(`the approval click answered ${clicked}`);
      return { callId, card, decided };
    },
    ephemeral(slackUserId, from) {
      return slack.waitFor('chat.postEphemeral', (c) => slack.calls.indexOf(c) >= from && c.body.user === slackUserId);
    },
    async traces(taskId) {
      const rows = await stack.database.db.query<{ trace_id: string }>('select trace_id from decision_traces where task_id = $1 order by seq', [taskId]);
      const records = await Promise.all(rows.map((r) => stack.services.traces.get(r.trace_id)));
      return records.filter((r): r is TraceRecord => !!r);
    },
    eventually,
    async historyText(taskId) {
      const history = await stack.client.workflow.getHandle(taskWorkflowId(taskId)).fetchHistory();
      // Payload data are base64 in the JSON form: decoded, so a secret in any of them shows.
      return JSON.stringify(historyJson(history), (key, value: unknown) =>
        key === 'data' && typeof value === 'string' ? Buffer.from(value, 'base64').toString('utf8') : value,
      );
    },
    async recordHistory(name, workflowId, runId) {
      if (process.env.RECORD_HISTORIES !== '1') return;
      const history = await stack.client.workflow.getHandle(workflowId, runId).fetchHistory();
      const file = path.resolve(__dirname, '../histories', `${name}.json`);
      fs.mkdirSync(path.dirname(file), { recursive: true });
      fs.writeFileSync(file, `${JSON.stringify(historyJson(history), null, 1)}\n`);
    },
    async withRule(rule, during) {
      const rulesFile = path.join(stack.services.config.governanceDir, 'rules.yaml');
      const rules = fs.readFileSync(rulesFile, 'utf8');
      const reload = async () => {
        const res = await stack.request('POST', '/v1/policy/reload', { token: TOKENS.admin });
        if (res.status !== 200) throw new Error(`policy reload: ${res.status} ${JSON.stringify(res.body)}`);
      };
      try {
        fs.writeFileSync(rulesFile, withRuleFirst(rules, rule));
        await reload();
        await during();
      } finally {
        fs.writeFileSync(rulesFile, rules);
        await reload();
      }
    },
    async stop() {
      for (const s of started) await s.stop();
    },
  };
  return world;
}
