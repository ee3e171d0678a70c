// `npm run policy -- <command>`: check, test, diff and backtest governance bundles.
// Parses argv and prints; the work is done by loadBundleDir, runBundleTests, diffBundles and backtest.
import { existsSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { TRACE_COLUMNS, rowToRecord } from '../audit/trace-store';
import type { TraceRecord } from '../audit/trace-types';
import { loadConfig } from '../config/config';
import { openDatabase } from '../db/open-database';
import type { SqlClient } from '../db/sql';
import type { GovernanceBundle } from './bundle';
import { backtest, type BacktestReport } from './backtest';
import { runBundleTests, type BundleTestResult } from './bundle-tests';
import { DIFF_SECTIONS, diffBundles, type BundleDiff } from './bundle-diff';
import { compilePolicy, type BundleError, type CompiledPolicy } from './compile';
import { instant } from './filter';
import { loadBundleDir } from './load-bundle';

export interface CliOutput {
  out(line: string): void;
  err(line: string): void;
}

export interface CliDeps {
  /** The database holding the Decision Traces, and its tenant; from the configuration by default. */
  traces?: () => Promise<{ db: SqlClient; tenant: string }>;
}

const USAGE = [
  'usage: npm run policy -- <command>',
  '  check <dir>                                  validate a bundle; print its version',
  '  test <dir>                                   run the bundle\'s own cases (tests.yaml)',
  '  diff <dirA> <dirB>                           apps, tools, routes and rules added, removed or changed',
  '  backtest <dir> [--since ISO] [--until ISO]   re-decide recorded decisions with a candidate bundle',
];

/** Runs one command; returns the exit code. */
export async function runCli(argv: string[], io: CliOutput, deps: CliDeps = {}): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({ args: argv, allowPositionals: true, options: { since: { type: 'string' }, until: { type: 'string' } } });
  } catch (err) {
    return usage(io, (err as Error).message);
  }
  const [command, ...dirs] = parsed.positionals;
  const { since, until } = parsed.values;
  switch (command) {
    case 'check':
      return dirs.length === 1 ? check(dirs[0], io) : usage(io, 'check takes one folder');
    case 'test':
      return dirs.length === 1 ? test(dirs[0], io) : usage(io, 'test takes one folder');
    case 'diff':
      return dirs.length === 2 ? diff(dirs[0], dirs[1], io) : usage(io, 'diff takes two folders');
    case 'backtest':
      if (dirs.length !== 1) return usage(io, 'backtest takes one folder');
      for (const [name, value] of Object.entries({ since, until })) {
        if (value !== undefined && instant(value) === undefined) return usage(io, `--${name}=${value}: not an ISO-8601 date-time`);
      }
      return replay(dirs[0], { since, until }, io, deps);
    default:
      return usage(io, command ? `unknown command "${command}"` : undefined);
  }
}

function usage(io: CliOutput, problem?: string): number {
  if (problem) io.err(problem);
  USAGE.forEach((l) => io.err(l));
  return 2;
}

/** A valid bundle's compiled policy, or its errors printed. */
function load(dir: string, io: CliOutput): { bundle: GovernanceBundle; policy: CompiledPolicy } | undefined {
  const { bundle, errors } = loadBundleDir(dir);
  if (errors.length) {
    printErrors(dir, errors, io);
    return undefined;
  }
  return { bundle, policy: compilePolicy(bundle) };
}

function printErrors(dir: string, errors: BundleError[], io: CliOutput): void {
  io.err(`${dir}: ${errors.length} error(s)`);
  for (const e of errors) io.err(`  ${e.file}${e.path ? ` ${e.path}` : ''}: ${e.message}`);
}

function check(dir: string, io: CliOutput): number {
  const loaded = load(dir, io);
  if (!loaded) return 1;
  const { bundle, policy } = loaded;
  const shadow = bundle.rules.filter((r) => r.mode === 'shadow').length;
  io.out(`OK ${policy.version}`);
  io.out(`  ${bundle.apps.length} apps, ${bundle.tools.length} tools, ${bundle.routes.length} routes, ${bundle.rules.length} rules (${shadow} shadow), ${bundle.tests.length} tests`);
  return 0;
}

function test(dir: string, io: CliOutput): number {
  const loaded = load(dir, io);
  if (!loaded) return 1;
  const results = runBundleTests(loaded.policy);
  for (const r of results) io.out(r.pass ? `PASS ${r.note}` : `FAIL ${r.note}: want ${describe(r.want)}, got ${describe(r.got)}`);
  const failed = results.filter((r) => !r.pass).length;
  io.out(`${results.length - failed} passed, ${failed} failed (${loaded.policy.version})`);
  return failed ? 1 : 0;
}

function describe(d: BundleTestResult['got']): string {
  const details = [d.rule && `rule ${d.rule}`, d.reasonCode && `reason ${d.reasonCode}`].filter(Boolean);
  return details.length ? `${d.decision} (${details.join(', ')})` : d.decision;
}

function diff(dirA: string, dirB: string, io: CliOutput): number {
  const a = load(dirA, io);
  const b = a && load(dirB, io);
  if (!a || !b) return 1;
  formatDiff(diffBundles(a.bundle, b.bundle)).forEach((l) => io.out(l));
  return 0;
}

export function formatDiff(d: BundleDiff): string[] {
  const lines = [`from ${d.from}`, `to   ${d.to}`];
  if (d.from === d.to) return [...lines, 'no changes'];
  for (const section of DIFF_SECTIONS) {
    const s = d[section];
    for (const id of s.added) lines.push(`  + ${section} ${id}`);
    for (const id of s.removed) lines.push(`  - ${section} ${id}`);
    for (const c of s.changed) lines.push(`  ~ ${section} ${c.id} (${c.fields.join(', ')})`);
  }
  if (d.ruleOrderChanged) lines.push('  rule order changed (the first matching escalate rule picks the route)');
  if (lines.length === 2) lines.push('  only tests changed');
  return lines;
}

async function replay(dir: string, window: { since?: string; until?: string }, io: CliOutput, deps: CliDeps): Promise<number> {
  const loaded = load(dir, io);
  if (!loaded) return 1;
  const { db, tenant } = await (deps.traces ?? configuredTraces)();
  try {
    const records = await decisionRecords(db, tenant, window);
    formatBacktest(backtest(records, loaded.policy), window).forEach((l) => io.out(l));
    return 0;
  } finally {
    if (!deps.traces) await db.close();
  }
}

async function configuredTraces(): Promise<{ db: SqlClient; tenant: string }> {
  const config = loadConfig();
  const local = path.join(config.dataDir, 'pglite');
  if (!config.databaseUrl && !existsSync(local)) throw new Error(`No Decision Traces: ${local} does not exist (set DATABASE_URL, or DATA_DIR to the server's data folder).`);
  return { db: await openDatabase({ databaseUrl: config.databaseUrl, dataDir: config.dataDir }), tenant: config.tenant };
}

export async function decisionRecords(db: SqlClient, tenant: string, window: { since?: string; until?: string }): Promise<TraceRecord[]> {
  const rows = await db.query<Parameters<typeof rowToRecord>[0]>(
    `select ${TRACE_COLUMNS} from decision_traces
     where tenant = $1 and kind = 'decision'
       and ($2::timestamptz is null or occurred_at >= $2::timestamptz)
       and ($3::timestamptz is null or occurred_at < $3::timestamptz)
     order by occurred_at, seq`,
    [tenant, window.since ?? null, window.until ?? null],
  );
  return rows.map(rowToRecord);
}

export function formatBacktest(r: BacktestReport, window: { since?: string; until?: string } = {}): string[] {
  const lines = [
    `candidate ${r.candidate}`,
    `decisions ${window.since ?? 'beginning'} .. ${window.until ?? 'now'}: ${r.decisions} (made by ${r.recordedVersions.length ? r.recordedVersions.join(', ') : 'no policy version'})`,
    `  replayed ${r.replayed}, would change ${r.changed}`,
  ];
  for (const [why, n] of Object.entries(r.notReplayable)) lines.push(`  not replayable (${why}): ${n}`);
  for (const c of r.changes) {
    lines.push(`  ${c.rule}: ${c.from} -> ${c.to} x${c.count}`);
    for (const e of c.examples) {
      lines.push(`    e.g. ${e.occurredAt} trace ${e.traceId} task ${e.taskId ?? '-'} ${e.userId ?? '-'} ${e.toolId ?? '-'} (was ${e.was ?? 'no rule'})`);
    }
  }
  return lines;
}

if (require.main === module) {
  runCli(process.argv.slice(2), { out: (l) => console.log(l), err: (l) => console.error(l) })
    .then((code) => {
      process.exitCode = code;
    })
    .catch((err: unknown) => {
      console.error(err instanceof Error ? err.message : err);
      process.exitCode = 1;
    });
}
