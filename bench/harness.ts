// What the HTTP scenarios share: an orchestrator of their own and a load generator in a separate process.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { TraceStore } from '../src/audit/trace-store';
import { loadConfig, type Config } from '../src/config/config';
import { runOrchestrator, type Orchestrator } from '../src/orchestrator';

export interface LoadResult {
  name: string;
  requests: number;
  non2xx: number;
  errors: number;
  throughput: number;
  p50: number;
  p95: number;
  p99: number;
  max: number;
  /** This process (the API, the worker and PGlite) while the load ran: CPU per request, and how busy its event loop was. */
  server: { cpuPerRequestUs: number; loopBusy: number };
  /** The trace store's group commits meanwhile (when watched): how many, their size, their share of the time. */
  commits?: CommitSummary;
}

export interface CommitSummary {
  count: number;
  recordsPerCommit: number;
  /** Milliseconds per commit, and the fraction of the elapsed time some commit held the database. */
  msPerCommit: number;
  busy: number;
}

/** Watches the trace store's group commits until the returned function is called. */
export function watchCommits(traces: TraceStore): () => CommitSummary {
  const started = performance.now();
  let count = 0;
  let records = 0;
  let seconds = 0;
  const stop = traces.onCommit((c) => {
    count++;
    records += c.records;
    seconds += c.seconds;
  });
  return () => {
    stop();
    const elapsed = (performance.now() - started) / 1000;
    return { count, recordsPerCommit: records / Math.max(1, count), msPerCommit: (seconds * 1000) / Math.max(1, count), busy: seconds / elapsed };
  };
}

export const GATEWAYS = Number(process.env.BENCH_CONNECTIONS ?? 50);
export const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
/** The in-context goal's rate: 2,000 decisions per second from the gateways together. */
export const RATE = Number(process.env.BENCH_RATE ?? 2000);

/** `traces`: the trace store whose group commits to report with the row. */
export function load(spec: Record<string, unknown>, traces?: TraceStore): Promise<LoadResult> {
  const watched = traces && watchCommits(traces);
  const cpu = process.cpuUsage();
  const loop = performance.eventLoopUtilization();
  return new Promise((resolve, reject) => {
    // The spec goes through stdin: 10,000 task ids do not fit in a command line.
    const child = execFile(process.execPath, [path.join(__dirname, 'load.js')], { maxBuffer: 1 << 20 }, (err, stdout, stderr) => {
      if (err) return reject(new Error(`${String(spec.name)}: ${stderr || err.message}`));
      const r = JSON.parse(stdout.trim().split('\n').pop()!) as Omit<LoadResult, 'server'>;
      const used = process.cpuUsage(cpu);
      const server = { cpuPerRequestUs: (used.user + used.system) / Math.max(1, r.requests), loopBusy: performance.eventLoopUtilization(loop).utilization };
      resolve({ ...r, server, commits: watched?.() });
    });
    child.stdin!.end(JSON.stringify(spec));
  });
}

export async function api(o: Orchestrator, token: string, method: string, url: string, body?: unknown) {
  const res = await fetch(o.baseUrl + url, {
    method,
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

export function row(r: LoadResult, floor?: LoadResult): string {
  const ratio = floor ? `  p99 ${(r.p99 / floor.p99).toFixed(1)}× / throughput ${(floor.throughput / r.throughput).toFixed(1)}× of the floor` : '';
  const server = `  server: ${r.server.cpuPerRequestUs.toFixed(0)} µs CPU/request, event loop ${(r.server.loopBusy * 100).toFixed(0)}% busy`;
  const c = r.commits;
  const commits = c ? `  trace: ${c.count} group commits of ${c.recordsPerCommit.toFixed(1)} records, ${c.msPerCommit.toFixed(2)} ms each, ${(c.busy * 100).toFixed(0)}% of the time` : '';
  return `${r.name.padEnd(52)} p50 ${r.p50.toFixed(2).padStart(7)} ms  p95 ${r.p95.toFixed(2).padStart(7)} ms  p99 ${r.p99.toFixed(2).padStart(7)} ms  ${r.throughput.toFixed(0).padStart(6)} req/s  (${r.requests} requests, ${r.non2xx} non-2xx, ${r.errors} errors)${ratio}${server}${commits}`;
}

/** The whole orchestrator (dev server, worker, API; PGlite, or PostgreSQL with DATABASE_URL) on a fresh data dir. */
export async function benchOrchestrator(): Promise<{ o: Orchestrator; tokens: { gateway: string; admin: string }; config: Config; stop(): Promise<void> }> {
  const tokens = { gateway: randomBytes(18).toString('base64url'), admin: randomBytes(18).toString('base64url') };
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'aao-bench-'));
  const config = loadConfig({
    ...process.env,
    AUTH_TOKENS: `gateway:${tokens.gateway},admin:${tokens.admin}`,
    DATA_DIR: dataDir,
    PORT: '0',
    LOG_LEVEL: 'silent',
  });
  const o = await runOrchestrator(config);
  return {
    o,
    tokens,
    config,
    async stop() {
      await o.stop();
      fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** A scenario run on its own (`node dist/bench/<name>.js`): exits once it is done, 1 on failure. */
export function exitWhenDone(run: Promise<unknown>): void {
  run.then(
    () => process.exit(0),
    (err) => {
      console.error(err);
      process.exit(1);
    },
  );
}
