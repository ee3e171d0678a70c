// The load generator, run as its own process (so it does not share the server's two cores'
// event loop): autocannon against one endpoint as fast as answered, or (`rate`) requests sent
// evenly at a fixed rate, printing one JSON line of results.
// stdin: a JSON LoadSpec.
import { randomUUID } from 'node:crypto';
import autocannon from 'autocannon';
import { KeepAlivePool } from './keep-alive-pool';
import { latencySummary, MEASURING, openLoop, PACED_WARMUP_SECONDS } from './latency';

interface LoadSpec {
  name: string;
  url: string;
  method: 'GET' | 'POST';
  token?: string;
  connections: number;
  durationSeconds?: number;
  amount?: number;
  /** Requests per second from all connections together (open loop) instead of as fast as answered. */
  rate?: number;
  /** Each request a tool call with a fresh callId, on the next of `tasks` (round robin). */
  toolCall?: { tasks: string[]; toolId: string; args: Record<string, unknown> };
  /** Each request starts a new task (`prefix`: with ids `<prefix>-<n>`, else the API picks them). */
  startTask?: boolean | { prefix: string };
}

async function main(): Promise<void> {
  let input = '';
  for await (const chunk of process.stdin) input += String(chunk);
  const spec = JSON.parse(input) as LoadSpec;
  let cpu = process.cpuUsage();
  // This process's CPU per request: it shares the machine's cores with the server it measures.
  const cpuPerRequest = (requests: number) => {
    const used = process.cpuUsage(cpu);
    return (used.user + used.system) / Math.max(1, requests);
  };
  const measuring = () => {
    cpu = process.cpuUsage();
    process.stdout.write(`${MEASURING}\n`);
  };
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (spec.token) headers.authorization = `Bearer ${spec.token}`;
  let next = 0;
  const tc = spec.toolCall;
  const pathAndBody = (): { path?: string; body?: string } => {
    if (spec.startTask) {
      const taskId = typeof spec.startTask === 'object' ? `${spec.startTask.prefix}-${next++}` : undefined;
      return { body: JSON.stringify({ taskId, userId: 'alice', agentId: 'coding-agent', purpose: 'bench' }) };
    }
    if (!tc) return {};
    const taskId = tc.tasks[next++ % tc.tasks.length];
    return { path: `/v1/tasks/${taskId}/tool-calls`, body: JSON.stringify({ callId: randomUUID(), toolId: tc.toolId, arguments: tc.args }) };
  };
  if (spec.rate) return paced(spec, headers, pathAndBody, cpuPerRequest, measuring);
  // Every response time, for exact percentiles (autocannon's summary has no p95).
  const times: number[] = [];
  let done!: (r: autocannon.Result) => void;
  let failed!: (e: unknown) => void;
  const finished = new Promise<autocannon.Result>((resolve, reject) => ((done = resolve), (failed = reject)));
  const instance = autocannon({
    url: spec.url,
    connections: spec.connections,
    duration: spec.durationSeconds ?? 10,
    amount: spec.amount,
    headers,
    requests: [
      {
        method: spec.method,
        setupRequest: (req) => ({ ...req, ...pathAndBody() }),
      },
    ],
  }, (err: unknown, r: autocannon.Result) => (err ? failed(err) : done(r)));
  instance.on('response', (_client: unknown, _status: number, _bytes: number, ms: number) => times.push(ms));
  const result = await finished;
  process.stdout.write(
    `${JSON.stringify({
      name: spec.name,
      requests: result.requests.total,
      non2xx: result.non2xx,
      errors: result.errors,
      throughput: result.requests.average,
      ...latencySummary(times),
      generatorCpuPerRequestUs: cpuPerRequest(result.requests.total),
    })}\n`,
  );
}

/**
 * Open loop: request i is due at start + i/rate, whatever happened to the others, over at most
 * `connections` kept-alive sockets (the gateways). Latency runs from when a request was due, so
 * time spent waiting for a free socket counts (no coordinated omission). The first
 * PACED_WARMUP_SECONDS are sent at the same rate but not measured (see openLoop); `measuring`
 * tells the harness when the measured part starts.
 */
async function paced(
  spec: LoadSpec,
  headers: Record<string, string>,
  next: () => { path?: string; body?: string },
  cpuPerRequest: (requests: number) => number,
  measuring: () => void,
): Promise<void> {
  const url = new URL(spec.url);
  const pool = new KeepAlivePool(url.hostname, Number(url.port), spec.connections);
  const times: number[] = [];
  let non2xx = 0;
  let errors = 0;
  const one = (due: number, measured: boolean) => {
    const { path, body } = next();
    return pool.request(spec.method, path ?? url.pathname, headers, body).then(
      (status) => {
        if (!measured) return;
        times.push(performance.now() - due);
        if (status < 200 || status >= 300) non2xx++;
      },
      () => {
        if (measured) errors++;
      },
    );
  };
  const elapsed = await openLoop(spec.rate!, spec.durationSeconds ?? 10, (_i, due, measured) => one(due, measured), {
    warmupSeconds: PACED_WARMUP_SECONDS,
    onMeasuring: measuring,
  });
  pool.close();
  const result = {
    name: spec.name,
    requests: times.length,
    non2xx,
    errors,
    throughput: times.length / elapsed,
    ...latencySummary(times),
    generatorCpuPerRequestUs: cpuPerRequest(times.length),
  };
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
