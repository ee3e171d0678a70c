// OpenTelemetry export: each decision as a GenAI `execute_tool` span (semantic conventions for tool
// execution) plus our attributes, via OTLP/HTTP; and the Temporal plugin, so workflow and activity
// spans go to the same place and a decision made in an activity is that activity's child span.
import { context, propagation, SpanKind, SpanStatusCode, type Tracer } from '@opentelemetry/api';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { Resource } from '@opentelemetry/resources';
import { BasicTracerProvider, BatchSpanProcessor, type SpanProcessor } from '@opentelemetry/sdk-trace-base';
import { OpenTelemetryPlugin } from '@temporalio/interceptors-opentelemetry';
import type { TraceRecord } from '../audit/trace-types';
import { taskWorkflowId } from '../../workflows/messages';

export interface Telemetry {
  /** Emits the span of one decision record (other kinds of records are not tool executions). */
  exportDecision(record: TraceRecord): void;
  temporalPlugin(): OpenTelemetryPlugin;
  flush(): Promise<void>;
  shutdown(): Promise<void>;
}

export function createTelemetry(opts: { endpoint: string; serviceName?: string }): Telemetry {
  const resource = new Resource({ 'service.name': opts.serviceName ?? 'agent-access-orchestrator' });
  const processor: SpanProcessor = new BatchSpanProcessor(new OTLPTraceExporter({ url: `${opts.endpoint.replace(/\/$/, '')}/v1/traces` }));
  const provider = new BasicTracerProvider({ resource, spanProcessors: [processor] });
  const tracer: Tracer = provider.getTracer('agent-access-orchestrator');
  // Context follows async calls, so a decision recorded inside an activity is that activity's child.
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  // Temporal's interceptors carry the span context in message headers with the global propagator.
  propagation.setGlobalPropagator(new W3CTraceContextPropagator());
  return {
    exportDecision(record) {
      if (record.kind !== 'decision') return;
      const b = record.body;
      const at = new Date(record.occurredAt);
      const span = tracer.startSpan(
        `execute_tool ${b.toolId ?? 'unknown'}`,
        { kind: SpanKind.INTERNAL, startTime: at, attributes: decisionAttributes(record) },
        context.active(),
      );
      if (b.decision !== 'allow') span.setStatus({ code: SpanStatusCode.ERROR, message: b.reasonCode ?? b.decision });
      span.end(at);
    },
    temporalPlugin: () => new OpenTelemetryPlugin({ resource, spanProcessor: processor, tracer }),
    flush: () => provider.forceFlush(),
    async shutdown() {
      await provider.shutdown();
      context.disable();
      propagation.disable();
    },
  };
}

/** GenAI attributes first (arguments are opt-in there and never exported here), then ours. */
export function decisionAttributes(record: TraceRecord): Record<string, string | number | string[]> {
  const b = record.body;
  const attrs: Record<string, string | number | string[] | undefined> = {
    'gen_ai.operation.name': 'execute_tool',
    'gen_ai.tool.name': b.toolId,
    'gen_ai.tool.call.id': b.callId,
    'gen_ai.tool.type': 'function',
    'gen_ai.agent.id': b.agentId,
    'error.type': b.decision === 'allow' ? undefined : (b.reasonCode ?? b.decision),
    'agent_access.decision': b.decision,
    'agent_access.reason_code': b.reasonCode,
    'agent_access.policy_version': b.policyVersion,
    'agent_access.rules': b.rules?.map((r) => `${r.id}:${r.mode}:${r.outcome}`),
    'agent_access.task.id': b.taskId,
    'agent_access.user.id': b.userId,
    'agent_access.app.id': b.appId,
    'agent_access.action_class': b.actionClass,
    'agent_access.trace.id': record.traceId,
    'agent_access.trace.seq': record.seq,
    'agent_access.trace.hash': record.hash,
    'temporal.workflow_id': b.taskId ? taskWorkflowId(b.taskId) : undefined,
  };
  return Object.fromEntries(Object.entries(attrs).filter(([, v]) => v !== undefined)) as Record<string, string | number | string[]>;
}

