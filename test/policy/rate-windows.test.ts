// Throttle windows in memory: exact counts within each rule's window, and memory bounded by what the
// policy's rules can count (not every call of the last hour).
import fc from 'fast-check';
import { horizonsOf, RateWindows, scopeKeys } from '../../src/policy/rate-windows';
import type { GovernanceBundle } from '../../src/policy/bundle';

const keys = (taskId = 't-1') => scopeKeys({ userId: 'alice', agentId: 'coding-agent', taskId }, 'github.read_repo', 'github');

describe('RateWindows', () => {
  it('keeps only the scopes the rules count, each as long as its longest window', () => {
    const bundle = {
      rules: [
        { id: 'a', when: 'true', then: 'throttle', limit: { max: 5, windowSeconds: 60, per: 'task' } },
        { id: 'b', when: 'true', then: 'throttle', limit: { max: 50, windowSeconds: 600, per: 'task' } },
        { id: 'c', when: 'true', then: 'throttle', mode: 'shadow', limit: { max: 9, windowSeconds: 10, per: 'person' } },
        { id: 'd', when: 'true', then: 'allow' },
      ],
    } as unknown as GovernanceBundle;
    expect(horizonsOf(bundle)).toEqual({ task: 600_000, person: 10_000 });
    expect(horizonsOf(bundle)).toBe(horizonsOf(bundle));

    const w = new RateWindows();
    for (let t = 0; t < 20; t++) w.record(keys(), t * 1000, horizonsOf(bundle));
    expect(w.count('task', 't-1', 600_000, 19_000)).toBe(20);
    expect(w.count('person', 'alice', 10_000, 19_000)).toBe(10); // only the last 10 s were kept
    expect(w.count('person', 'alice', 600_000, 19_000)).toBe(10);
    expect(w.count('agent', 'coding-agent', 600_000, 19_000)).toBe(0); // no rule counts agents
    expect(w.count('tool', 'alice/github.read_repo', 600_000, 19_000)).toBe(0);
  });

  it('counts exactly the calls in any window up to the horizon, whatever order they were recorded in', () => {
    const horizons = { task: 60_000 };
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 0, max: 200_000 }), { maxLength: 300 }),
        fc.integer({ min: 1, max: 60_000 }),
        fc.integer({ min: 0, max: 260_000 }),
        (offsets, windowMs, probe) => {
          // Nearly in order, as concurrent calls commit: each time within 50 ms of the one before.
          const times = offsets.map((o, i) => i * 500 + (o % 50));
          const w = new RateWindows();
          for (const t of times) w.record(keys(), t, horizons);
          const last = times.length ? Math.max(...times) : 0;
          const now = Math.max(last, probe);
          const kept = times.filter((t) => t > last - 60_000);
          expect(w.count('task', 't-1', windowMs, now)).toBe(kept.filter((t) => t > now - windowMs).length);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('says when a throttled call fits again', () => {
    const w = new RateWindows();
    for (const t of [1000, 2000, 3000]) w.record(keys(), t, { task: 10_000 });
    expect(w.retryAfterMs('task', 't-1', 10_000, 3, 4000)).toBe(7000); // the call at 1000 leaves the window at 11000
    expect(w.retryAfterMs('task', 't-1', 10_000, 4, 4000)).toBe(0);
    expect(w.retryAfterMs('task', 't-1', 2_500, 2, 4000)).toBe(500); // 2000 and 3000 are in this window; 2000 leaves it at 4500
  });

  it('drops the keys of tasks whose calls have all aged out', () => {
    const w = new RateWindows();
    const horizons = { task: 1000 };
    for (let i = 0; i < 100; i++) w.record(keys(`old-${i}`), 0, horizons);
    expect(w.size).toBe(100);
    for (let t = 2000; t < 2100; t++) w.record(keys('busy'), t, horizons);
    expect(w.size).toBe(1);
    expect(w.count('task', 'busy', 1000, 2099)).toBe(100);
    expect(w.count('task', 'old-0', 1000, 2099)).toBe(0);
  });
});
