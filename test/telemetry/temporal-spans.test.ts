// With OTEL_EXPORTER_OTLP_ENDPOINT set, a decision the workflow makes is exported as an
// execute_tool span inside the same trace as Temporal's own spans (client, workflow, activity).
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomUUID } from 'node:crypto';
import { startStack, type Stack } from '../support/stack';

interface Span {
  name: string;
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  attributes: { key: string; value: { stringValue?: string } }[];
}

let stack: Stack;
let server: http.Server;
const spans: Span[] = [];

beforeAll(async () => {
  server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (d) => (body += d));
    req.on('end', () => {
      const payload = JSON.parse(body) as { resourceSpans: { scopeSpans: { spans: Span[] }[] }[] };
      for (const rs of payload.resourceSpans) for (const ss of rs.scopeSpans) spans.push(...ss.spans);
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  stack = await startStack({ env: { OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${port}` } });
});
afterAll(async () => {
  await stack?.stop();
  await new Promise((r) => server.close(r));
});

it("puts the decision's span in its workflow's trace", async () => {
  const taskId = `otel-${randomUUID()}`;
  await stack.request('POST', '/v1/tasks', { body: { taskId, userId: 'alice', agentId: 'coding-agent' } });
  const res = await stack.request('POST', `/v1/tasks/${taskId}/tool-calls`, { body: { callId: 'c1', toolId: 'github.read_repo', arguments: { repo: 'acme/api' } } });
  expect(res.body.decision).toBe('allow');
  // Up the chain: activity ← the workflow scheduling it ← its update handler ← the API's update
  // call. The API answers at the decision's commit; the update's spans end a little later.
  const chainOf = (s: Span | undefined) => {
    const names: string[] = [];
    for (; s; s = spans.find((p) => p.traceId === s!.traceId && p.spanId === s!.parentSpanId)) names.push(s.name);
    return names;
  };
  const deadline = Date.now() + 15_000;
  let chain: string[] = [];
  while (Date.now() < deadline) {
    await stack.services.telemetry!.flush();
    const decision = spans.find((s) => s.name === 'execute_tool github.read_repo' && s.attributes.some((a) => a.value.stringValue === taskId));
    chain = chainOf(decision);
    if (chain.at(-1)?.startsWith('StartWorkflowUpdate')) break;
    await new Promise((r) => setTimeout(r, 200));
  }
  expect(chain).toEqual([
    'execute_tool github.read_repo',
    'RunActivity:decideCall',
    'StartActivity:decideCall',
    'HandleUpdate:requestToolCall',
    'StartWorkflowUpdate:requestToolCall',
  ]);
});
