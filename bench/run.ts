// `npm run bench`: starts the orchestrator (real Temporal dev server, worker, API, PGlite or
// DATABASE_URL) and drives its HTTP API from a separate process with concurrent gateways; then the
// scenarios of the policy, provisioning and Slack benches. Prints figures; asserts nothing.
import { execFile } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadConfig } from '../src/config/config';
import { runOrchestrator, type Orchestrator } from '../src/orchestrator';
import { benchApprovals } from './approvals';
import { benchIdentity } from './identity';
import { benchPolicy } from './policy';
import { benchProvisioning } from './provisioning';
import { benchSlack } from './slack';
import { benchTraces } from './traces';

interface LoadResult {
  name: string;
  requests: number;
  non2xx: number;
  errors: number;
  throughput: number;
  p50: number;
  p95: number;
  p99: number;
  max: number;
}

const GATEWAYS = Number(process.env.BENCH_CONNECTIONS ?? 50);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);

function load(spec: Record<string, unknown>): Promise<LoadResult> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [path.join(__dirname, 'load.js'), JSON.stringify(spec)], { maxBuffer: 1 << 20 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${spec.name}: ${stderr || err.message}`));
      else resolve(JSON.parse(stdout.trim().split('\n').pop()!) as LoadResult);
    });
  });
}

async function api(o: Orchestrator, token: string, method: string, url: string, body?: unknown) {
  const res = await fetch(o.baseUrl + url, {
    method,
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

function row(r: LoadResult, floor?: LoadResult): string {
  const ratio = floor ? `  p99 ${(r.p99 / floor.p99).toFixed(1)}× / throughput ${(floor.throughput / r.throughput).toFixed(1)}× of the floor` : '';
  return `${r.name.padEnd(44)} p50 ${r.p50.toFixed(2).padStart(7)} ms  p95 ${r.p95.toFixed(2).padStart(7)} ms  p99 ${r.p99.toFixed(2).padStart(7)} ms  ${r.throughput.toFixed(0).padStart(6)} req/s  (${r.requests} requests, ${r.non2xx} non-2xx, ${r.errors} errors)${ratio}`;
}

async function benchHttp(): Promise<void> {
  const tokens = { gateway: randomBytes(18).toString('base64url'), admin: randomBytes(18).toString('base64url') };
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'aao-bench-'));
  const config = loadConfig({
    ...process.env,
    AUTH_TOKENS: `gateway:${tokens.gateway},admin:${tokens.admin}`,
    DATA_DIR: dataDir,
    PORT: '0',
    LOG_LEVEL: 'silent',
  });
  console.log(`HTTP API — ${GATEWAYS} concurrent gateways from a separate process, ${SECONDS} s each; trace store ${config.databaseUrl ? 'PostgreSQL' : 'PGlite'}`);
  const o = await runOrchestrator(config);
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
    const floor = await load({ name: 'GET /healthz (the floor)', url: `${o.baseUrl}/healthz`, method: 'GET', connections: GATEWAYS, durationSeconds: SECONDS });
    console.log(row(floor));
    const decided = await load({
      name: 'POST tool-calls, tool in context',
      url: o.baseUrl,
      method: 'POST',
      token: tokens.gateway,
      connections: GATEWAYS,
      durationSeconds: SECONDS,
      toolCall: { tasks: inContext, toolId: 'github.create_pr', args: { repo: 'acme/api', title: 'bench', head: 'b' } },
    });
    console.log(row(decided, floor));

    // A new grant each request: a fresh task's first call goes to its workflow (policy-only path).
    const fresh: string[] = [];
    for (let i = 0; i < 400; i++) {
      const t = await api(o, tokens.gateway, 'POST', '/v1/tasks', { userId: 'alice', agentId: 'coding-agent', purpose: 'bench' });
      fresh.push(t.body.taskId as string);
    }
    const granted = await load({
      name: 'POST tool-calls, new grant via workflow',
      url: o.baseUrl,
      method: 'POST',
      token: tokens.gateway,
      connections: 10,
      amount: fresh.length,
      toolCall: { tasks: fresh, toolId: 'github.create_pr', args: { repo: 'acme/api', title: 'bench', head: 'b' } },
    });
    console.log(row(granted, floor));
    const started = await load({
      name: 'POST /v1/tasks (start a workflow)',
      url: `${o.baseUrl}/v1/tasks`,
      method: 'POST',
      token: tokens.gateway,
      connections: 10,
      amount: 300,
      startTask: true,
    });
    console.log(row(started, floor));
    const mem = process.memoryUsage();
    console.log(`memory of this process (API + worker + PGlite): rss ${(mem.rss / 2 ** 20).toFixed(0)} MiB, heap ${(mem.heapUsed / 2 ** 20).toFixed(0)} MiB`);
  } finally {
    await o.stop();
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const only = process.argv[2];
  const scenarios: [string, () => Promise<void>][] = [
    ['http', benchHttp],
    ['policy', benchPolicy],
    ['provisioning', benchProvisioning],
    ['slack', benchSlack],
    ['approvals', () => benchApprovals()],
    ['traces', benchTraces],
    ['identity', benchIdentity],
  ];
  for (const [name, run] of scenarios) {
    if (only && only !== name) continue;
    console.log(`\n== ${name}`);
    await run();
  }
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
