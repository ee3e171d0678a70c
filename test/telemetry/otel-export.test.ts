// Decisions exported as GenAI execute_tool spans over OTLP/HTTP, received by a local receiver.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createTelemetry } from '../../src/telemetry/otel';
import type { TraceRecord } from '../../src/audit/trace-types';

interface OtlpAttribute {
  key: string;
  value: { stringValue?: string; intValue?: string | number; arrayValue?: { values: { stringValue: string }[] } };
}
interface OtlpSpan {
  name: string;
  kind: number;
  attributes: OtlpAttribute[];
  status?: { code?: number };
}

/** A minimal OTLP/HTTP JSON receiver on loopback: records the spans of every export request. */
async function otlpReceiver() {
  const spans: OtlpSpan[] = [];
  const paths: string[] = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (d) => (body += d));
    req.on('end', () => {
      paths.push(req.url ?? '');
      const payload = JSON.parse(body) as { resourceSpans: { scopeSpans: { spans: OtlpSpan[] }[] }[] };
      for (const rs of payload.resourceSpans) for (const ss of rs.scopeSpans) spans.push(...ss.spans);
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}`, spans, paths, stop: () => new Promise((r) => server.close(r)) };
}

const record = (decision: string, extra: Record<string, unknown> = {}): TraceRecord => ({
  tenant: 'default',
  seq: 7,
  traceId: `trace-${decision}`,
  kind: 'decision',
  occurredAt: '2026-11-23T08:00:00.000Z',
  prevHash: 'a'.repeat(64),
  hash: 'b'.repeat(64),
  body: { taskId: 't1', callId: 'c1', userId: 'alice', agentId: 'coding-agent', toolId: 'crm.read_customer', appId: 'crm', actionClass: 'Read', decision, policyVersion: 'sha256:abc', rules: [{ id: 'r1', mode: 'enforce', outcome: 'allow' }], ...extra },
});

const attr = (s: OtlpSpan, key: string) => {
  const v = s.attributes.find((a) => a.key === key)?.value;
  return v?.stringValue ?? v?.intValue ?? v?.arrayValue?.values.map((x) => x.stringValue);
};

describe('OpenTelemetry export of decisions', () => {
  it('sends each decision as an execute_tool span with GenAI and our attributes', async () => {
    const receiver = await otlpReceiver();
    const telemetry = createTelemetry({ endpoint: receiver.url });
    try {
      telemetry.exportDecision(record('allow'));
      telemetry.exportDecision(record('deny', { callId: 'c2', reasonCode: 'no_rule_allows' }));
      telemetry.exportDecision({ ...record('allow'), kind: 'revocation' });
      await telemetry.flush();
      expect(receiver.paths).toContain('/v1/traces');
      expect(receiver.spans.map((s) => s.name)).toEqual(['execute_tool crm.read_customer', 'execute_tool crm.read_customer']);
      const [allowed, denied] = receiver.spans;
      expect(allowed.kind).toBe(1); // SPAN_KIND_INTERNAL
      expect(attr(allowed, 'gen_ai.operation.name')).toBe('execute_tool');
      expect(attr(allowed, 'gen_ai.tool.name')).toBe('crm.read_customer');
      expect(attr(allowed, 'gen_ai.tool.call.id')).toBe('c1');
      expect(attr(allowed, 'gen_ai.agent.id')).toBe('coding-agent');
      expect(attr(allowed, 'agent_access.policy_version')).toBe('sha256:abc');
      expect(attr(allowed, 'agent_access.rules')).toEqual(['r1:enforce:allow']);
      expect(attr(allowed, 'temporal.workflow_id')).toBe('task-t1');
      expect(attr(allowed, 'error.type')).toBeUndefined();
      expect(attr(denied, 'error.type')).toBe('no_rule_allows');
      expect(denied.status?.code).toBe(2); // STATUS_CODE_ERROR
    } finally {
      await telemetry.shutdown();
      await receiver.stop();
    }
  });
});
