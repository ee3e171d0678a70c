// Sliding-window counts of allowed calls per throttle scope key, in this process.
// Pure apart from the clock, which the caller passes in.
import type { GovernanceBundle, ThrottleScope } from './bundle';

export type ScopeKeys = Record<ThrottleScope, string>;

/** How long each scope's calls are kept: the longest window a throttle rule counts them over, in ms. */
export type Horizons = Partial<Record<ThrottleScope, number>>;

/**
 * The key of each throttle scope for one call of `task` (a task record as it is: the hot path
 * makes no spread copy of it, see DecisionService.evaluate): tool and app windows are per person.
 */
export function scopeKeys(task: { userId: string; agentId: string; taskId: string }, toolId: string, appId = ''): ScopeKeys {
  return {
    person: task.userId,
    agent: task.agentId,
    task: task.taskId,
    tool: `${task.userId}/${toolId}`,
    app: `${task.userId}/${appId}`,
  };
}

const horizonsByBundle = new WeakMap<GovernanceBundle, Horizons>();

/** The scopes a bundle's throttle rules count (shadow ones too: they are evaluated), each with its longest window. */
export function horizonsOf(bundle: GovernanceBundle): Horizons {
  let horizons = horizonsByBundle.get(bundle);
  if (!horizons) {
    horizons = {};
    for (const { limit } of bundle.rules) {
      if (limit) horizons[limit.per] = Math.max(horizons[limit.per] ?? 0, limit.windowSeconds * 1000);
    }
    horizonsByBundle.set(bundle, horizons);
  }
  return horizons;
}

/**
 * Keeps a call's time only under the scopes some rule counts, and only as long as that rule's
 * window: at 2,000 calls a second, keeping every scope for an hour (as this did) held 7.2 million
 * times per person, agent, tool and app key. A key whose calls have all aged out is dropped, so
 * ended tasks' keys do not pile up. Counting is a binary search over the times, kept in order.
 */
export class RateWindows {
  /** Times per `scope\0key`, ascending; the map in order of last record (oldest first: swept). */
  private readonly hits = new Map<string, { times: number[]; horizonMs: number }>();

  record(keys: ScopeKeys, atMs: number, horizons: Horizons): void {
    for (const per of Object.keys(horizons) as ThrottleScope[]) {
      const horizonMs = horizons[per]!;
      const id = `${per}\u0000${keys[per]}`;
      const entry = this.hits.get(id) ?? { times: [], horizonMs };
      this.hits.delete(id);
      this.hits.set(id, entry);
      entry.horizonMs = horizonMs;
      const { times } = entry;
      let i = times.length;
      while (i > 0 && times[i - 1] > atMs) i--;
      if (i === times.length) times.push(atMs);
      else times.splice(i, 0, atMs);
      while (times[0] <= atMs - horizonMs) times.shift();
    }
    this.sweep(atMs);
  }

  count(per: ThrottleScope, key: string, windowMs: number, nowMs: number): number {
    const times = this.hits.get(`${per}\u0000${key}`)?.times;
    return times ? times.length - firstAfter(times, nowMs - windowMs) : 0;
  }

  /** Earliest time a new call fits under `max` in the window. */
  retryAfterMs(per: ThrottleScope, key: string, windowMs: number, max: number, nowMs: number): number {
    if (this.count(per, key, windowMs, nowMs) < max) return 0;
    const times = this.hits.get(`${per}\u0000${key}`)!.times;
    return times[times.length - max] + windowMs - nowMs;
  }

  /** Keys held (for tests and metrics). */
  get size(): number {
    return this.hits.size;
  }

  /** Drops the least recently recorded keys whose every call has aged out (a couple per record: no pause). */
  private sweep(nowMs: number): void {
    let checked = 0;
    for (const [id, { times, horizonMs }] of this.hits) {
      if (checked++ === 2 || times[times.length - 1] > nowMs - horizonMs) return;
      this.hits.delete(id);
    }
  }
}

/** Index of the first time after `t` in ascending `times` (its length when none is). */
function firstAfter(times: number[], t: number): number {
  let lo = 0;
  let hi = times.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (times[mid] > t) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}
