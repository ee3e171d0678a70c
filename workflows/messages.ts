// Every message between the API and the task workflow, defined once and imported by both sides.
// (Imported by relative path: the workflow bundler does not resolve path aliases.)
import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';
import type { EvaluatedPlan } from '../activities';

/** Custom search attributes the dev server registers and the task workflow carries. */
export const SEARCH_ATTRIBUTES = { DelegatorId: 'Keyword', AgentId: 'Keyword' } as const;
export const DELEGATOR_ID = defineSearchAttributeKey('DelegatorId', SearchAttributeType.KEYWORD);
export const AGENT_ID = defineSearchAttributeKey('AgentId', SearchAttributeType.KEYWORD);

export const taskWorkflowId = (taskId: string): string => `task-${taskId}`;

export type TaskStatus = 'active' | 'ended' | 'revoked' | 'expired';
export type GrantVia = 'policy' | 'user-confirmation' | 'approval' | 'provisioning';

export interface TaskInput {
  taskId: string;
  tenant: string;
  userId: string;
  agentId: string;
  purpose?: string;
  createdAt: string;
  expiresAt: string;
  /** Carried across continue-as-new. */
  carried?: CarriedState;
}

export interface ContextEntry {
  toolId: string;
  appId: string;
  grantedAt: string;
  expiresAt?: string;
  via: GrantVia;
}

export interface CarriedState {
  context: ContextEntry[];
  decided: [string, ToolCallResult][];
  /** Calls waiting for a human when the run continued as new: the new run waits on for them. */
  holds?: HeldCall[];
}

/** Where a held call waits for a human, with the absolute deadline of that wait. */
export type WaitStage = { phase: 'confirmation'; deadline: string } | { phase: 'approval'; step: number; deadline: string };

/** A call held inside the workflow for the person's confirmation or an approver's decision. */
export interface HeldCall extends PendingCall {
  call: ToolCallRequest;
  plan: EvaluatedPlan;
  digest: string;
  /** Who may answer now (person ids); for a confirmation, the delegating person only. */
  answerers: string[];
  answer?: ApprovalAnswer;
  /** Answers of earlier holds of this call (the person's confirmation before an approval chain). */
  answers: ApprovalAnswer[];
  /** Set only while it waits for a human with its cards posted: the one state that can be carried. */
  waiting?: WaitStage;
}

export interface ToolCallRequest {
  callId: string;
  toolId: string;
  arguments?: Record<string, unknown>;
  /** When the gateway asked (API clock), the decision's time. */
  requestedAt: string;
}

export interface Reason {
  code: string;
  message: string;
}

export interface ToolCallResult {
  callId: string;
  decision: 'allow' | 'deny' | 'throttle' | 'pending';
  traceId: string;
  policyVersion?: string;
  reason?: Reason;
  retryAfterMs?: number;
  credentialRef?: string;
  approvalId?: string;
}

export interface EndTaskRequest {
  status: Exclude<TaskStatus, 'active'>;
  reason: string;
  by: string;
}

export interface CollapseResult {
  taskId: string;
  status: Exclude<TaskStatus, 'active'>;
  revoked: string[];
}

export interface PendingCall {
  callId: string;
  toolId: string;
  approvalId: string;
  kind: 'approval' | 'confirmation';
  since: string;
}

export interface TaskView {
  taskId: string;
  status: TaskStatus;
  context: ContextEntry[];
  pending: PendingCall[];
}

export type ApprovalChoice = 'approve_once' | 'approve_task' | 'deny';
export type ConfirmationChoice = 'confirm' | 'decline';

/** A human's answer to a held call, bound to the call's digest and signed by the API (JWS). */
export interface ApprovalAnswer {
  approvalId: string;
  digest: string;
  /** The person (directory id) who answered. */
  personId: string;
  choice: ApprovalChoice | ConfirmationChoice;
  comment?: string;
  at: string;
  jws?: string;
}

export const requestToolCallUpdate = defineUpdate<ToolCallResult, [ToolCallRequest]>('requestToolCall');
export const endTaskUpdate = defineUpdate<CollapseResult, [EndTaskRequest]>('endTask');
export const revokeAllSignal = defineSignal<[EndTaskRequest]>('revokeAll');
export const answerApprovalUpdate = defineUpdate<{ accepted: true }, [ApprovalAnswer]>('answerApproval');
/** An approver left (offboarded): their pending steps move on. */
export const approverRemovedSignal = defineSignal<[{ personId: string }]>('approverRemoved');
/**
 * A mover's re-evaluation revoked these grants (in the projection, with receipts): the workflow
 * forgets the tools and removes the just-in-time access no live grant of the task needs any more.
 */
export const grantsRevokedSignal = defineSignal<[{ toolIds: string[] }]>('grantsRevoked');
export const taskViewQuery = defineQuery<TaskView>('taskView');
