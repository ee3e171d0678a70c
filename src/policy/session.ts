// What a task has done so far, as session-aware rules see it: pure counters over allowed calls.
import type { ActionClass, SessionState } from './bundle';

export type { SessionState } from './bundle';

export function emptySession(): SessionState {
  return { calls: 0, actions: { Read: 0, Write: 0, Destructive: 0, External: 0 }, tools: {}, apps: {}, dataClassificationsRead: [] };
}

export interface SessionCall {
  toolId: string;
  appId: string;
  action: ActionClass;
  dataClassification?: string;
}

/**
 * A call to count into its task's session once its decision is recorded (the trace's group commit
 * counts it: trace_batch_append, migration 014); `after` is the session as of this call.
 */
export interface SessionIncrement {
  taskId: string;
  call: SessionCall;
  after?: SessionState;
}
