// What the HTTP scenarios share: an orchestrator of their own and a load generator in a separate process.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { TraceStore } from '../src/audit/trace-store';
import { loadConfig, type Config } from '../src/config/config';
import { runOrchestrator, type Orchestrator } from '../src/orchestrator';
import { MEASURING } from './latency';
import { describe, WriteAheadLog, type Upkeep } from './postgres-wal';

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
  /**
   * This process (the API, the worker and PGlite) while the load ran: CPU per request, and how busy
   * its event loop was; and the Temporal dev server's CPU per request when its pid was given.
   */
  server: { cpuPerRequestUs: number; loopBusy: number; temporalCpuPerRequestUs?: number; postgresCpuPerRequestUs?: number };
  /** The load generator's own CPU per request (it runs on the same cores as the server); none when it ran in this process. */
  generatorCpuPerRequestUs?: number;
  /** The trace store's group commits meanwhile (when watched): how many, their size, their share of the time. */
  commits?: CommitSummary;
  /** What the PostgreSQL server wrote and did meanwhile (when watched). */
  postgres?: Upkeep;
}

export interface CommitSummary {
  count: number;
  recordsPerCommit: number;
  /** Milliseconds per commit, and the fraction of the elapsed time some commit held the database. */
  msPerCommit: number;
  busy: number;
  /** Milliseconds of the longest commit, and how many took over 5 ms: a stall holds every call behind it. */
  msLongestCommit: number;
  stalls: number;
}

/** Watches the trace store's group commits until the returned function is called. */
function watchCommits(traces: TraceStore): () => CommitSummary {
  const started = performance.now();
  let count = 0;
  let records = 0;
  let seconds = 0;
  let longest = 0;
  let stalls = 0;
  const stop = traces.onCommit((c) => {
    count++;
    records += c.records;
    seconds += c.seconds;
    longest = Math.max(longest, c.seconds);
    if (c.seconds > 0.005) stalls++;
  });
  return () => {
    stop();
    const elapsed = (performance.now() - started) / 1000;
    return { count, recordsPerCommit: records / Math.max(1, count), msPerCommit: (seconds * 1000) / Math.max(1, count), busy: seconds / elapsed, msLongestCommit: longest * 1000, stalls };
  };
}

export const GATEWAYS = Number(process.env.BENCH_CONNECTIONS ?? 50);
export const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
/** The in-context goal's rate: 2,000 decisions per second from the gateways together. */
export const RATE = Number(process.env.BENCH_RATE ?? 2000);

/**
 * A process's CPU time so far, in µs, from /proc (Linux); undefined without a pid or /proc. With
 * `exitedChildren`, also that of its children it has reaped (cutime, cstime).
 */
export function cpuMicrosOf(pid: number | undefined, exitedChildren = false): number | undefined {
  if (!pid) return undefined;
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // After the command name (which may hold spaces): utime and stime are fields 14 and 15, cutime
    // and cstime 16 and 17, in clock ticks (100/s on Linux).
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ticks = Number(fields[11]) + Number(fields[12]) + (exitedChildren ? Number(fields[13]) + Number(fields[14]) : 0);
    return ticks * 10_000;
  } catch {
    return undefined;
  }
}

/**
 * CPU time so far, in µs, of every process of this machine named `postgres` (the server and its
 * backends): on a local PostgreSQL, the database's share of each request. Undefined without /proc.
 */
export function postgresCpuMicros(): number | undefined {
  let pids: string[];
  try {
    pids = fs.readdirSync('/proc').filter((d) => /^\d+$/.test(d));
  } catch {
    return undefined;
  }
  let total = 0;
  for (const pid of pids) {
    try {
      if (fs.readFileSync(`/proc/${pid}/comm`, 'utf8').trim() !== 'postgres') continue;
    } catch {
      continue; // gone meanwhile
    }
    // With exited children: backends of closed connections count in the postmaster once reaped.
    total += cpuMicrosOf(Number(pid), true) ?? 0;
  }
  return total;
}

/** DATABASE_URL names a PostgreSQL server on this machine (loopback or a socket): its CPU can be read. */
export function isLocalPostgres(databaseUrl: string | undefined): boolean {
  if (!databaseUrl) return false;
  try {
    const host = new URL(databaseUrl).hostname;
    return host === '' || host === 'localhost' || host === '127.0.0.1' || host === '[::1]';
  } catch {
    return false;
  }
}

/** What to report with a row besides the server's own figures. */
export interface Watch {
  /** The trace store whose group commits to report. */
  traces?: TraceStore;
  /** The Temporal dev server's pid (the orchestrator's `temporalPid`), for its CPU per request. */
  temporalPid?: number;
  /** The trace store is a PostgreSQL server on this machine: report its CPU per request. */
  localPostgres?: boolean;
  /** The trace store's PostgreSQL server: report its WAL and upkeep. */
  wal?: WriteAheadLog;
}

/**
 * This process's CPU and event loop, and what `watch` names, from now on; `end` stops watching and
 * gives the figures per request.
 */
export function measureFrom(watch: Watch): { end(requests: number): Promise<Pick<LoadResult, 'server' | 'commits' | 'postgres'>> } {
  const watched = watch.traces && watchCommits(watch.traces);
  const walFrom = watch.wal?.position();
  const probe = watch.wal?.probeCommits();
  const temporalCpu = cpuMicrosOf(watch.temporalPid);
  const postgresCpu = watch.localPostgres ? postgresCpuMicros() : undefined;
  const cpu = process.cpuUsage();
  const loop = performance.eventLoopUtilization();
  return {
    async end(requests) {
      const used = process.cpuUsage(cpu);
      const n = Math.max(1, requests);
      const temporalNow = cpuMicrosOf(watch.temporalPid);
      const postgresNow = watch.localPostgres ? postgresCpuMicros() : undefined;
      const server = {
        cpuPerRequestUs: (used.user + used.system) / n,
        loopBusy: performance.eventLoopUtilization(loop).utilization,
        temporalCpuPerRequestUs: temporalCpu !== undefined && temporalNow !== undefined ? (temporalNow - temporalCpu) / n : undefined,
        postgresCpuPerRequestUs: postgresCpu !== undefined && postgresNow !== undefined ? (postgresNow - postgresCpu) / n : undefined,
      };
      const commits = watched?.();
      const durableCommit = await probe?.stop();
      const postgres = walFrom && Object.assign(WriteAheadLog.between(await walFrom, await watch.wal!.position()), { durableCommit });
      return { server, commits, postgres };
    },
  };
}

export function load(spec: Record<string, unknown>, watch: Watch = {}): Promise<LoadResult> {
  // What this process measures starts over when a fixed-rate row's warm-up ends (MEASURING).
  let from = measureFrom(watch);
  return new Promise((resolve, reject) => {
    // The spec goes through stdin: 10,000 task ids do not fit in a command line.
    const child = spawn(process.execPath, [path.join(__dirname, 'load.js')], { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let warmedUp = false;
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      stdout += chunk;
      if (!warmedUp && stdout.includes(`${MEASURING}\n`)) {
        warmedUp = true;
        void from.end(0);
        from = measureFrom(watch);
      }
    });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    // Whatever happens to the load, what this process started watching with stops.
    const failed = (err: Error) => void from.end(0).then(() => reject(err), () => reject(err));
    child.on('error', failed);
    child.on('close', (code) => {
      if (code !== 0) return failed(new Error(`${String(spec.name)}: ${stderr || `exit code ${code}`}`));
      const r = JSON.parse(stdout.trim().split('\n').pop()!) as Omit<LoadResult, 'server'>;
      from.end(r.requests).then((measured) => resolve({ ...r, ...measured }), reject);
    });
    child.stdin.end(JSON.stringify(spec));
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
  const temporal = r.server.temporalCpuPerRequestUs === undefined ? '' : `; Temporal dev server ${r.server.temporalCpuPerRequestUs.toFixed(0)} µs CPU/request`;
  const postgres = r.server.postgresCpuPerRequestUs === undefined ? '' : `; PostgreSQL ${r.server.postgresCpuPerRequestUs.toFixed(0)} µs CPU/request`;
  const generator = r.generatorCpuPerRequestUs === undefined ? '' : `; load generator ${r.generatorCpuPerRequestUs.toFixed(0)} µs CPU/request`;
  const server = `  server: ${r.server.cpuPerRequestUs.toFixed(0)} µs CPU/request, event loop ${(r.server.loopBusy * 100).toFixed(0)}% busy${temporal}${postgres}${generator}`;
  const c = r.commits;
  const commits = c ? `  trace: ${c.count} group commits of ${c.recordsPerCommit.toFixed(1)} records, ${c.msPerCommit.toFixed(2)} ms each (longest ${c.msLongestCommit.toFixed(1)}, ${c.stalls} over 5 ms), ${(c.busy * 100).toFixed(0)}% of the time` : '';
  const postgresUpkeep = r.postgres ? `  PostgreSQL: ${describe(r.postgres)}` : '';
  return `${r.name.padEnd(52)} p50 ${r.p50.toFixed(2).padStart(7)} ms  p95 ${r.p95.toFixed(2).padStart(7)} ms  p99 ${r.p99.toFixed(2).padStart(7)} ms  ${r.throughput.toFixed(0).padStart(6)} req/s  (${r.requests} requests, ${r.non2xx} non-2xx, ${r.errors} errors)${ratio}${server}${commits}${postgresUpkeep}`;
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
