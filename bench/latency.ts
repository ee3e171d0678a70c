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
 * Sends request i at start + i/rate, whatever happened to the others, for `warmupSeconds` and then
 * `seconds` more without a pause; `measured` tells `send` which part a request is in. `onMeasuring`
 * runs when the first measured request is due. Resolves with the seconds from then until every
 * request has settled.
 *
 * The warm-up is there because a row's first second or two measures its own start, not the server
 * in steady state: a fresh load generator process runs cold code, opens its connections, and falls
 * behind its schedule, and the burst it then sends backs up behind itself (seen on a per-request
 * timeline: every request slow for 1.25-2 s, then none; that start alone set the p99). wrk2 leaves
 * out its first 10 s for the same reason.
 */
export async function openLoop(
  rate: number,
  seconds: number,
  send: (i: number, due: number, measured: boolean) => Promise<unknown>,
  opts: { warmupSeconds?: number; onMeasuring?: () => void } = {},
): Promise<number> {
  const warmup = Math.round(rate * (opts.warmupSeconds ?? 0));
  const total = warmup + Math.round(rate * seconds);
  const inflight: Promise<unknown>[] = [];
  const start = performance.now();
  for (let i = 0; i < total; ) {
    for (const now = performance.now(); i < total && start + (i * 1000) / rate <= now; i++) {
      if (i === warmup) opts.onMeasuring?.();
      inflight.push(send(i, start + (i * 1000) / rate, i >= warmup));
    }
    await new Promise((r) => setTimeout(r, 1));
  }
  await Promise.all(inflight);
  return (performance.now() - (start + (warmup * 1000) / rate)) / 1000;
}

/** Seconds of unmeasured load before each fixed-rate row (see openLoop). */
export const PACED_WARMUP_SECONDS = Number(process.env.BENCH_PACED_WARMUP_SECONDS ?? 2);

/** The line the load generator prints when a fixed-rate row's measured part starts (after its warm-up). */
export const MEASURING = 'measuring';
