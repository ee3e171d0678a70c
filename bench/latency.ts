// What the benches share to measure latency: percentiles of sorted samples, and an open-loop
// sender whose latencies run from when a request was due (no coordinated omission).

export function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

/** p50, p95, p99 and max of the samples (sorted here), in ms to two decimals. */
export function latencySummary(times: number[]): { p50: number; p95: number; p99: number; max: number } {
  times.sort((a, b) => a - b);
  const at = (p: number) => Number((percentile(times, p) ?? NaN).toFixed(2));
  return { p50: at(50), p95: at(95), p99: at(99), max: at(100) };
}

/**
 * Sends request i at start + i/rate, whatever happened to the others, `rate × seconds` in all;
 * resolves with the seconds elapsed once every one has settled.
 */
export async function openLoop(rate: number, seconds: number, send: (i: number, due: number) => Promise<unknown>): Promise<number> {
  const total = Math.round(rate * seconds);
  const inflight: Promise<unknown>[] = [];
  const start = performance.now();
  for (let i = 0; i < total; ) {
    for (const now = performance.now(); i < total && start + (i * 1000) / rate <= now; i++) inflight.push(send(i, start + (i * 1000) / rate));
    await new Promise((r) => setTimeout(r, 1));
  }
  await Promise.all(inflight);
  return (performance.now() - start) / 1000;
}
