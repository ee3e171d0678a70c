// Re-decides recorded Decision Traces with a candidate bundle: how many outcomes would change,
// by the rule that would decide them. Traces keep the person, agent and session as they were
// (`snapshot`) but only a digest of the arguments, so a call whose rules read `args` cannot be
// replayed and is counted as such rather than guessed. Throttle counts are rebuilt from the allowed
// calls among the records themselves (calls before the first record are not seen).
import type { TraceRecord } from '../audit/trace-types';
import type { EvaluationInput, Outcome, PolicyAgent, PolicyUser, RateCounter, RuleMatch, SessionState, ThrottleScope } from './bundle';
import { decidedBy, pickOutcome, type CompiledPolicy } from './compile';
import { horizonsOf, RateWindows, scopeKeys } from './rate-windows';
import { hasRedacted } from './redact';
import { emptySession } from './session';

export interface BacktestExample {
  traceId: string;
  occurredAt: string;
  taskId?: string;
  userId?: string;
  toolId?: string;
  /** The rule (or reason code) that decided then, and that would decide now. */
  was?: string;
  now?: string;
}

export interface BacktestChange {
  /** The rule that would decide now, or the reason code of a decision no rule made (`no_rule_allows`, `unknown_tool`). */
  rule: string;
  from: Outcome;
  to: Outcome;
  count: number;
  examples: BacktestExample[];
}

export interface BacktestReport {
  candidate: string;
  /** Decision records considered. */
  decisions: number;
  replayed: number;
  changed: number;
  /** Why some records could not be replayed, with how many. */
  notReplayable: Record<string, number>;
  changes: BacktestChange[];
  /** The versions that made the recorded decisions. */
  recordedVersions: string[];
}

export const ARGS_NOT_RECORDED = 'args not recorded';

interface Snapshot {
  user?: Partial<PolicyUser>;
  agent?: Partial<PolicyAgent>;
  session?: SessionState;
  /** The arguments, sensitive values redacted (recorded since the trace carries them). */
  args?: Record<string, unknown>;
  /** The throttle counts the decision consulted. */
  rates?: { per: ThrottleScope; windowSeconds: number; count: number }[];
}

export function backtest(records: readonly TraceRecord[], candidate: CompiledPolicy, options: { examples?: number } = {}): BacktestReport {
  const maxExamples = options.examples ?? 3;
  const decisions = records.filter((r) => r.kind === 'decision').sort((a, b) => a.occurredAt.localeCompare(b.occurredAt) || a.seq - b.seq);
  const report: BacktestReport = { candidate: candidate.version, decisions: decisions.length, replayed: 0, changed: 0, notReplayable: {}, changes: [], recordedVersions: [] };
  const groups = new Map<string, BacktestChange>();
  const versions = new Set<string>();
  const windows = new RateWindows();
  const horizons = horizonsOf(candidate.bundle);

  for (const record of decisions) {
    const b = record.body;
    if (b.policyVersion) versions.add(b.policyVersion);
    const atMs = Date.parse(record.occurredAt);
    const keys = scopeKeys({ userId: b.userId ?? '', agentId: b.agentId ?? '', taskId: b.taskId ?? '' }, b.toolId ?? '', b.appId);
    const input = replayInput(record, candidate);
    if (typeof input === 'string') {
      report.notReplayable[input] = (report.notReplayable[input] ?? 0) + 1;
    } else {
      report.replayed++;
      const rates: RateCounter = { count: (per, windowSeconds) => windows.count(per, keys[per], windowSeconds * 1000, atMs) };
      const now = candidate.evaluate(input, rates, { argumentsChecked: true });
      const from = recordedOutcome(record);
      if (now.decision !== from) {
        report.changed++;
        const rule = decidedBy(now) ?? now.reason?.code ?? 'no_rule_allows';
        const key = `${rule}\u0000${from}\u0000${now.decision}`;
        const group = groups.get(key) ?? { rule, from, to: now.decision, count: 0, examples: [] };
        groups.set(key, group);
        group.count++;
        if (group.examples.length < maxExamples) {
          group.examples.push({
            traceId: record.traceId,
            occurredAt: record.occurredAt,
            taskId: b.taskId,
            userId: b.userId,
            toolId: b.toolId,
            was: (b.rules && decidedBy({ decision: from, rules: b.rules })) ?? b.reasonCode,
            now: rule,
          });
        }
      }
    }
    // What was allowed then counts towards throttle windows, whether or not it could be replayed.
    if (b.decision === 'allow') windows.record(keys, atMs, horizons);
  }
  report.changes = [...groups.values()].sort((x, y) => y.count - x.count || x.rule.localeCompare(y.rule));
  report.recordedVersions = [...versions].sort();
  return report;
}

/** The call as it was decided, or why it cannot be decided again. */
export function replayInput(record: TraceRecord, candidate: CompiledPolicy): EvaluationInput | string {
  const b = record.body;
  const snapshot = b.snapshot as Snapshot | undefined;
  if (!b.toolId) return 'no tool recorded';
  if (!snapshot?.user) return b.reasonCode ? `decided before policy (${b.reasonCode})` : 'no snapshot';
  const argsKnown = snapshot.args !== undefined && !hasRedacted(snapshot.args);
  if (b.reasonCode === 'invalid_arguments' || (!argsKnown && candidate.readsArguments(b.toolId))) return ARGS_NOT_RECORDED;
  return {
    ...(argsKnown ? { args: snapshot.args } : {}),
    // Only active people and agents reach the policy, so the snapshot leaves `active` out.
    user: { active: true, ...snapshot.user, id: b.userId ?? String(snapshot.user.id) },
    agent: { active: true, ...snapshot.agent, id: b.agentId ?? String(snapshot.agent?.id) },
    toolId: b.toolId,
    session: snapshot.session ?? emptySession(),
    taskId: b.taskId,
    time: record.occurredAt,
  };
}

/**
 * What the policy decided then, from the rules it recorded: the trace's `decision` is what the
 * gateway answered, which after an approval is `allow` for a call the policy escalated.
 */
function recordedOutcome(record: TraceRecord): Outcome {
  const rules: RuleMatch[] | undefined = record.body.rules;
  return rules ? pickOutcome(rules, false).decision : (record.body.decision as Outcome);
}

/** The throttle counts a decision recorded, as a RateCounter (0 for a window it did not consult). */
export function recordedRates(record: TraceRecord): RateCounter {
  const rates = (record.body.snapshot as Snapshot | undefined)?.rates ?? [];
  return { count: (per, windowSeconds) => rates.find((r) => r.per === per && r.windowSeconds === windowSeconds)?.count ?? 0 };
}
