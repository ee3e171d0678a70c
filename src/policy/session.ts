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
    actions: plusOne(s.actions, call.action),
    tools: plusOne(s.tools, call.toolId),
    apps: plusOne(s.apps, call.appId),
    dataClassificationsRead: read ? s.dataClassificationsRead.concat(call.dataClassification!) : s.dataClassificationsRead,
  };
}

/** A copy with one more under `key` (Object.assign, not a spread: a call's hot path, see DecisionService.evaluate). */
function plusOne<K extends string>(counts: Partial<Record<K, number>>, key: K): Record<K, number> {
  const copy = Object.assign({}, counts) as Record<K, number>;
  copy[key] = (counts[key] ?? 0) + 1;
  return copy;
}
