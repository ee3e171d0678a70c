// The Decision Trace record: one per decision, plus receipts for grants, revocations, approvals
// and offboarding. `body` is what the hash chain covers; its fields are the trace's query columns.
import type { RuleMatch } from '../policy/bundle';

export type TraceKind = 'decision' | 'escalation' | 'grant' | 'revocation' | 'approval' | 'offboarding' | 'task';

export interface TraceBody {
  taskId?: string;
  callId?: string;
  userId?: string;
  agentId?: string;
  toolId?: string;
  appId?: string;
  actionClass?: string;
  decision?: string;
  reasonCode?: string;
  reasonMessage?: string;
  policyVersion?: string;
  rules?: RuleMatch[];
  shadowDecision?: string;
  argsDigest?: string;
  /** HR attributes, agent and app classification as used for the decision (for offline replay). */
  snapshot?: Record<string, unknown>;
  [field: string]: unknown;
}

export interface TraceEntry {
  kind: TraceKind;
  body: TraceBody;
  /** ISO-8601 with milliseconds; now when omitted. */
  occurredAt?: string;
  /** Chosen by the caller to tell its own record from an earlier one of the same call; random when omitted. */
  traceId?: string;
}

export interface TraceRecord {
  tenant: string;
  seq: number;
  traceId: string;
  kind: TraceKind;
  occurredAt: string;
  body: TraceBody;
  prevHash: string;
  hash: string;
}
