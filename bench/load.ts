// The load generator, run as its own process (so it does not share the server's two cores'
// event loop): autocannon against one endpoint, printing one JSON line of results.
// stdin: a JSON LoadSpec.
import { randomUUID } from 'node:crypto';
import autocannon from 'autocannon';

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
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (spec.token) headers.authorization = `Bearer ${spec.token}`;
  let next = 0;
  const tc = spec.toolCall;
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
    overallRate: spec.rate,
    headers,
    requests: [
      {
        method: spec.method,
        setupRequest: (req) => {
          if (spec.startTask) {
            const taskId = typeof spec.startTask === 'object' ? `${spec.startTask.prefix}-${next++}` : undefined;
            return { ...req, body: JSON.stringify({ taskId, userId: 'alice', agentId: 'coding-agent', purpose: 'bench' }) };
          }
          if (!tc) return req;
          const taskId = tc.tasks[next++ % tc.tasks.length];
          return { ...req, path: `/v1/tasks/${taskId}/tool-calls`, body: JSON.stringify({ callId: randomUUID(), toolId: tc.toolId, arguments: tc.args }) };
        },
      },
    ],
  }, (err: unknown, r: autocannon.Result) => (err ? failed(err) : done(r)));
  instance.on('response', (_client: unknown, _status: number, _bytes: number, ms: number) => times.push(ms));
  const result = await finished;
  times.sort((a, b) => a - b);
  const pct = (p: number) => Number((times[Math.min(times.length - 1, Math.floor((p / 100) * times.length))] ?? NaN).toFixed(2));
  process.stdout.write(
    `${JSON.stringify({
      name: spec.name,
      requests: result.requests.total,
      non2xx: result.non2xx,
      errors: result.errors,
      throughput: result.requests.average,
      p50: pct(50),
      p95: pct(95),
      p99: pct(99),
      max: pct(100),
      // At a fixed rate a slow answer delays the requests queued behind it; autocannon's histogram
      // counts that wait too (coordinated omission), the response times above do not.
      p99Corrected: spec.rate ? result.latency.p99 : undefined,
    })}\n`,
  );
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
