// Replays one recorded decision: the pinned policy version, the recorded inputs (person, agent,
// session, arguments with sensitive values redacted, throttle counts), and a comparison of the
// outcome and the rules that matched. Pure: the caller supplies the compiled version.
import { recordedRates, replayInput } from '../policy/backtest';
import { pickOutcome, type CompiledPolicy } from '../policy/compile';
import type { Outcome, RuleMatch } from '../policy/bundle';
import type { TraceRecord } from './trace-types';

export interface ReplayResult {
  traceId: string;
  policyVersion: string;
  /** False when the record cannot be re-decided (why says so). */
  replayable: boolean;
  matches?: boolean;
  recorded?: { decision: Outcome; rules: string[] };
  replayed?: { decision: Outcome; rules: string[]; reasonCode?: string };
  why?: string;
}

const ruleIds = (rules: readonly RuleMatch[] = []) => rules.map((r) => `${r.id}:${r.mode}:${r.outcome}`).sort();

export function replayDecision(record: TraceRecord, policy: CompiledPolicy): ReplayResult {
  const base = { traceId: record.traceId, policyVersion: policy.version };
  if (record.kind !== 'decision') return { ...base, replayable: false, why: `a ${record.kind} record is not a decision` };
  if (record.body.policyVersion !== policy.version) return { ...base, replayable: false, why: `recorded with ${record.body.policyVersion}, not ${policy.version}` };
  const input = replayInput(record, policy);
  if (typeof input === 'string') return { ...base, replayable: false, why: input };
  const d = policy.evaluate(input, recordedRates(record));
  // What the policy decided then: an approved escalation is recorded as `allow`, its rules say escalate.
  const recordedRules: RuleMatch[] = record.body.rules ?? [];
  const recorded = { decision: record.body.rules ? pickOutcome(recordedRules, false).decision : (record.body.decision as Outcome), rules: ruleIds(recordedRules) };
  const replayed = { decision: d.decision, rules: ruleIds(d.rules), reasonCode: d.reason?.code };
  const matches = replayed.decision === recorded.decision && replayed.rules.join() === recorded.rules.join();
  return { ...base, replayable: true, matches, recorded, replayed };
}
