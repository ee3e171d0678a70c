// Sliding-window counts of allowed calls per throttle scope key, in this process.
// Pure apart from the clock, which the caller passes in.
import type { ThrottleScope } from './bundle';

export type ScopeKeys = Record<ThrottleScope, string>;

/** The key of each throttle scope for one call: tool and app windows are per person. */
export function scopeKeys(call: { userId: string; agentId: string; taskId: string; toolId: string; appId?: string }): ScopeKeys {
  return {
    person: call.userId,
    agent: call.agentId,
    task: call.taskId,
    tool: `${call.userId}/${call.toolId}`,
    app: `${call.userId}/${call.appId ?? ''}`,
  };
}

export class RateWindows {
  private readonly hits = new Map<string, number[]>();

  constructor(private readonly horizonMs = 3_600_000) {}

  record(keys: ScopeKeys, atMs: number): void {
    for (const [per, key] of Object.entries(keys)) {
      const id = `${per}\u0000${key}`;
      const list = this.hits.get(id) ?? [];
      list.push(atMs);
      while (list.length && list[0] < atMs - this.horizonMs) list.shift();
      this.hits.set(id, list);
    }
  }

  count(per: ThrottleScope, key: string, windowMs: number, nowMs: number): number {
    const list = this.hits.get(`${per}\u0000${key}`);
    if (!list) return 0;
    let n = 0;
    for (let i = list.length - 1; i >= 0 && list[i] > nowMs - windowMs; i--) n++;
    return n;
  }

  /** Earliest time a new call fits under `max` in the window. */
  retryAfterMs(per: ThrottleScope, key: string, windowMs: number, max: number, nowMs: number): number {
    const list = (this.hits.get(`${per}\u0000${key}`) ?? []).filter((t) => t > nowMs - windowMs);
    if (list.length < max) return 0;
    return list[list.length - max] + windowMs - nowMs;
  }
}
