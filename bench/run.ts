// `npm run bench`: starts the orchestrator (real Temporal dev server, worker, API, PGlite or
// DATABASE_URL) and drives its HTTP API from a separate process with concurrent gateways; then the
// scenarios of the policy, provisioning and Slack benches. Prints figures; asserts nothing.
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { benchActiveTasks } from './active-tasks';
import { benchApprovals } from './approvals';
import { benchIdentity } from './identity';
import { benchPolicy } from './policy';
import { describeCommits, WriteAheadLog } from './postgres-wal';
import { benchProvisioning } from './provisioning';
import { benchSlack } from './slack';
import { benchTraceBatch } from './trace-batch';
import { benchTraces } from './traces';
import type { Orchestrator } from '../src/orchestrator';
import { TasksService } from '../src/tasks/tasks.service';
import { latencySummary, openLoop, PACED_WARMUP_SECONDS } from './latency';
import { api, benchOrchestrator, exitWhenDone, GATEWAYS, isLocalPostgres, load, measureFrom, RATE, row, SECONDS, type LoadResult, type Watch } from './harness';

/** Seconds of load before the measured rows (`BENCH_WARMUP_SECONDS`). */
const WARMUP_SECONDS = Number(process.env.BENCH_WARMUP_SECONDS ?? 10);

/**
 * The same in-context decisions at the same offered rate, made in this process without HTTP (the
 * API's TasksService called directly): what deciding and recording costs on its own, so a row's
 * CPU splits into the HTTP stack's share and the decision's.
 */
async function decideInProcess(o: Orchestrator, toolCall: { tasks: string[]; toolId: string; args: Record<string, unknown> }, rate: number, watch: Watch): Promise<LoadResult> {
  const service = o.api.get(TasksService, { strict: false });
  let from = measureFrom(watch);
  const times: number[] = [];
  const measuring = () => {
    void from.end(0);
    from = measureFrom(watch);
  };
  const elapsed = await openLoop(
    rate,
    SECONDS,
    (i, due, measured) => {
      const call = { callId: randomUUID(), toolId: toolCall.toolId, arguments: toolCall.args };
      return service.toolCall(toolCall.tasks[i % toolCall.tasks.length], call).then(() => measured && times.push(performance.now() - due));
    },
    { warmupSeconds: PACED_WARMUP_SECONDS, onMeasuring: measuring },
  );
  return {
    name: `  the same decisions in process, no HTTP, at ${rate}/s`,
    requests: times.length,
    non2xx: 0,
    errors: 0,
    throughput: times.length / elapsed,
    ...latencySummary(times),
    ...(await from.end(times.length)),
  };
}

/**
 * The machine's own floor at `rate`: a bare Node.js HTTP server (no framework, no work) answering
 * from this process while the orchestrator idles, measured by the same load generator. Below this
 * no server on this machine can answer, whatever it does.
 */
async function bareNodeFloor(rate: number): Promise<LoadResult> {
  const server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => res.setHeader('content-type', 'application/json').end('{"status":"ok"}'));
  });
  await new Promise<void>((listening) => server.listen(0, '127.0.0.1', listening));
  try {
    const { port } = server.address() as AddressInfo;
    return await load({ name: `GET on a bare Node.js server at ${rate}/s`, url: `http://127.0.0.1:${port}/`, method: 'GET', connections: GATEWAYS, durationSeconds: SECONDS, rate });
  } finally {
    server.closeAllConnections();
    await new Promise((closed) => server.close(closed));
  }
}

async function benchHttp(): Promise<void> {
  const { o, tokens, config, stop } = await benchOrchestrator();
  console.log(
    `HTTP API — ${GATEWAYS} concurrent gateways from a separate process, ${SECONDS} s each; trace store ${config.databaseUrl ? 'PostgreSQL' : 'PGlite'}; Node.js ${process.version}`,
  );
  try {
    // Tasks whose context already holds the tool: decided from the projection.
    const inContext: string[] = [];
    for (let i = 0; i < 50; i++) {
      const t = await api(o, tokens.gateway, 'POST', '/v1/tasks', { userId: 'alice', agentId: 'coding-agent', purpose: 'bench' });
      const taskId = t.body.taskId as string;
      const first = await api(o, tokens.gateway, 'POST', `/v1/tasks/${taskId}/tool-calls`, {
        callId: randomUUID(),
        toolId: 'github.create_pr',
        arguments: { repo: 'acme/api', title: 'bench', head: 'b' },
      });
      if (first.body.decision !== 'allow') throw new Error(`warm-up call not allowed: ${JSON.stringify(first.body)}`);
      inContext.push(taskId);
    }
    const toolCall = { tasks: inContext, toolId: 'github.create_pr', args: { repo: 'acme/api', title: 'bench', head: 'b' } };
    // Unmeasured first: a server just started runs its first requests unoptimized (and the dev
    // server is still settling), which made the first rows measured here the slowest, not the floor.
    await load({ name: 'warm-up', url: `${o.baseUrl}/healthz`, method: 'GET', connections: GATEWAYS, durationSeconds: WARMUP_SECONDS });
    await load({ name: 'warm-up', url: o.baseUrl, method: 'POST', token: tokens.gateway, connections: GATEWAYS, durationSeconds: WARMUP_SECONDS, toolCall });
    const localPostgres = isLocalPostgres(config.databaseUrl);
    const wal = localPostgres ? await WriteAheadLog.open(config.databaseUrl!) : undefined;
    if (wal) {
      console.log(await wal.warm());
      // The machine's own floor for a durable commit, before any row loads it (compare each row's).
      const idle = wal.probeCommits();
      await new Promise((r) => setTimeout(r, 3000));
      const d = await idle.stop();
      if (d) console.log(`PostgreSQL idle: ${describeCommits(d)}`);
    }
    const watch: Watch = { traces: o.services.traces, temporalPid: o.temporalPid, localPostgres, wal };
    const floor = await load({ name: 'GET /healthz (the floor)', url: `${o.baseUrl}/healthz`, method: 'GET', connections: GATEWAYS, durationSeconds: SECONDS });
    console.log(row(floor));
    const decided = await load({ name: 'POST tool-calls, tool in context', url: o.baseUrl, method: 'POST', token: tokens.gateway, connections: GATEWAYS, durationSeconds: SECONDS, toolCall }, watch);
    console.log(row(decided, floor));
    // The same gateways at a fixed offered rate: the latency a gateway sees when the API is not
    // saturated (as fast as answered, 50 gateways queue behind each other by construction).
    console.log(row(await bareNodeFloor(RATE)));
    for (const rate of [RATE, RATE / 2, RATE / 4]) {
      const floorAtRate = await load({ name: `GET /healthz at ${rate}/s (the floor)`, url: `${o.baseUrl}/healthz`, method: 'GET', connections: GATEWAYS, durationSeconds: SECONDS, rate });
      console.log(row(floorAtRate));
      const atRate = await load(
        { name: `POST tool-calls, in context, at ${rate}/s`, url: o.baseUrl, method: 'POST', token: tokens.gateway, connections: GATEWAYS, durationSeconds: SECONDS, rate, toolCall },
        watch,
      );
      console.log(row(atRate, floorAtRate));
      console.log(row(await decideInProcess(o, toolCall, rate, watch)));
    }

    // A new grant each request: a fresh task's first call goes to its workflow (policy-only path).
    // 300 calls from one gateway: enough that p99 is not the single slowest call.
    const fresh: string[] = [];
    for (let i = 0; i < 600; i++) {
      const t = await api(o, tokens.gateway, 'POST', '/v1/tasks', { userId: 'alice', agentId: 'coding-agent', purpose: 'bench' });
      fresh.push(t.body.taskId as string);
    }
    for (const connections of [1, 10]) {
      const batch = fresh.splice(0, 300);
      const granted = await load({
        name: `POST tool-calls, new grant via workflow, ${connections} gw`,
        url: o.baseUrl,
        method: 'POST',
        token: tokens.gateway,
        connections,
        amount: batch.length,
        toolCall: { tasks: batch, toolId: 'github.create_pr', args: { repo: 'acme/api', title: 'bench', head: 'b' } },
      }, watch);
      console.log(row(granted, floor));
    }
    const started = await load({
      name: 'POST /v1/tasks (start a workflow)',
      url: `${o.baseUrl}/v1/tasks`,
      method: 'POST',
      token: tokens.gateway,
      connections: 10,
      amount: 300,
      startTask: true,
    }, { temporalPid: o.temporalPid });
    console.log(row(started, floor));
    const mem = process.memoryUsage();
    console.log(`memory of this process (API + worker + PGlite): rss ${(mem.rss / 2 ** 20).toFixed(0)} MiB, heap ${(mem.heapUsed / 2 ** 20).toFixed(0)} MiB`);
    if (wal) {
      console.log(await wal.since());
      await wal.close();
    }
  } finally {
    await stop();
  }
}

async function main(): Promise<void> {
  const only = process.argv[2];
  const scenarios: [string, () => Promise<void>][] = [
    ['http', benchHttp],
    ['tasks', benchActiveTasks],
    ['policy', benchPolicy],
    ['provisioning', benchProvisioning],
    ['slack', benchSlack],
    ['approvals', () => benchApprovals()],
    ['traces', benchTraces],
    ['trace-batch', benchTraceBatch],
    ['identity', benchIdentity],
  ];
  for (const [name, run] of scenarios) {
    if (only && only !== name) continue;
    console.log(`\n== ${name}`);
    await run();
  }
}

exitWhenDone(main());
