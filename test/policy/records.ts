// Decision Traces as the decision service writes them, made by deciding calls with a policy.
import { argsDigest } from '../../src/audit/digest';
import type { TraceBody, TraceRecord } from '../../src/audit/trace-types';
import type { EvaluationInput, RateCounter } from '../../src/policy/bundle';
import type { CompiledPolicy } from '../../src/policy/compile';
import { emptySession } from '../../src/policy/session';

let seq = 0;

export function decisionBody(policy: CompiledPolicy, input: EvaluationInput, rates?: RateCounter): TraceBody {
  const d = policy.evaluate(input, rates);
  const tool = policy.tool(input.toolId);
  const app = tool && policy.app(tool.app);
  const u = input.user;
  return {
    taskId: input.taskId,
    callId: `c-${++seq}`,
    userId: u.id,
    agentId: input.agent.id,
    toolId: input.toolId,
    appId: app?.id,
    actionClass: tool?.action,
    decision: d.decision,
    reasonCode: d.reason?.code,
    policyVersion: d.policyVersion,
    rules: d.rules,
    argsDigest: argsDigest(input.args),
    snapshot: {
      user: { id: u.id, userType: u.userType, title: u.title, department: u.department, manager: u.manager, groups: u.groups },
      agent: { id: input.agent.id, owner: input.agent.owner },
      app: app && { id: app.id, riskLevel: app.riskLevel, dataClassification: app.dataClassification, category: app.category },
      session: input.session ?? emptySession(),
    },
  };
}

export function record(body: TraceBody, occurredAt: string): TraceRecord {
  const n = ++seq;
  return { tenant: 'default', seq: n, traceId: `trace-${n}`, kind: 'decision', occurredAt, body: JSON.parse(JSON.stringify(body)), prevHash: '', hash: '' };
}

export function traced(policy: CompiledPolicy, input: EvaluationInput, over: Partial<TraceBody> = {}): TraceRecord {
  return record({ ...decisionBody(policy, input), ...over }, input.time);
}
