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
  const deadline = Date.now() + 15_000;
  let decision: Span | undefined;
  while (Date.now() < deadline) {
    await stack.services.telemetry!.flush();
    decision = spans.find((s) => s.name === 'execute_tool github.read_repo' && s.attributes.some((a) => a.value.stringValue === taskId));
    if (decision && spans.some((s) => s.traceId === decision!.traceId && s.spanId === decision!.parentSpanId)) break;
    await new Promise((r) => setTimeout(r, 200));
  }
  expect(decision).toBeDefined();
  const parent = spans.find((s) => s.traceId === decision!.traceId && s.spanId === decision!.parentSpanId);
  expect(parent?.name).toBe('RunActivity:decideCall');
  // Up the chain: activity ← the workflow scheduling it ← its update handler ← the API's update call.
  const chain: string[] = [];
  for (let s: Span | undefined = decision; s; s = spans.find((p) => p.traceId === s!.traceId && p.spanId === s!.parentSpanId)) chain.push(s.name);
  expect(chain).toEqual([
    'execute_tool github.read_repo',
    'RunActivity:decideCall',
    'StartActivity:decideCall',
    'HandleUpdate:requestToolCall',
    'StartWorkflowUpdate:requestToolCall',
  ]);
});
