// Runs a bundle's own golden cases (tests.yaml): each call in context and the decision it must get.
import type { BundleTestCase, Outcome, RateCounter, SessionState, ThrottleScope } from './bundle';
import { decidedBy, type CompiledPolicy } from './compile';
import { emptySession } from './session';

/**
 * A case may say how many calls were already made in the throttle window, per scope, so
 * throttle rules can be tested. (Not yet in BundleTestCase in bundle.ts.)
 */
export type BundleTestCaseWithRates = BundleTestCase & { rates?: Partial<Record<ThrottleScope, number>> };

export interface BundleTestResult {
  note: string;
  pass: boolean;
  want: BundleTestCase['want'];
  got: { decision: Outcome; rule?: string; reasonCode?: string };
}

export function runBundleTests(policy: CompiledPolicy, cases: readonly BundleTestCaseWithRates[] = policy.bundle.tests): BundleTestResult[] {
  return cases.map(({ note, input, rates, want }) => {
    const session = input.session && fullSession(input.session);
    const counter: RateCounter = { count: (per) => rates?.[per] ?? 0 };
    const d = policy.evaluate({ ...input, session }, counter);
    const got = { decision: d.decision, rule: decidedBy(d), reasonCode: d.reason?.code };
    const pass =
      got.decision === want.decision &&
      (want.rule === undefined || got.rule === want.rule) &&
      (want.reasonCode === undefined || got.reasonCode === want.reasonCode);
    return { note, pass, want, got };
  });
}

/** Test cases write only the counters they need. */
function fullSession(partial: Partial<SessionState>): SessionState {
  const empty = emptySession();
  return { ...empty, ...partial, actions: { ...empty.actions, ...partial.actions } };
}
