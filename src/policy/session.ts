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

export function recordCall(s: SessionState, call: SessionCall): SessionState {
  const read = call.action === 'Read' && call.dataClassification && !s.dataClassificationsRead.includes(call.dataClassification);
  return {
    calls: s.calls + 1,
    actions: { ...s.actions, [call.action]: (s.actions[call.action] ?? 0) + 1 },
    tools: { ...s.tools, [call.toolId]: (s.tools[call.toolId] ?? 0) + 1 },
    apps: { ...s.apps, [call.appId]: (s.apps[call.appId] ?? 0) + 1 },
    dataClassificationsRead: read ? [...s.dataClassificationsRead, call.dataClassification!] : s.dataClassificationsRead,
  };
}
