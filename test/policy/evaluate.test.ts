// Deciding one call: outcomes and their precedence, default deny, refusals before any rule,
// shadow rules, session-aware rules, throttle windows, explanations and the version.
import type { RateCounter, Rule, ThrottleScope } from '../../src/policy/bundle';
import { compilePolicy, decidedBy } from '../../src/policy/compile';
import { emptySession } from '../../src/policy/session';
import { alice, bundleWith, call, dave } from './fixtures';

const allowAll: Rule = { id: 'allow-all', when: 'user.active eq true', then: 'allow' };
const policyOf = (...rules: Rule[]) => compilePolicy(bundleWith(rules));

describe('the outcome of a call', () => {
  it('allows a call an enforcing rule allows', () => {
    const d = policyOf(allowAll).evaluate(call('github.read_repo'));
    expect(d).toMatchObject({ decision: 'allow', rules: [{ id: 'allow-all', mode: 'enforce', outcome: 'allow' }] });
    expect(d.reason).toBeUndefined();
  });

  it('denies a call no rule allows, with reason no_rule_allows', () => {
    const d = policyOf({ id: 'allow-contractors', when: 'user.userType eq "Contractor"', then: 'allow' }).evaluate(call('github.read_repo'));
    expect(d).toMatchObject({ decision: 'deny', reason: { code: 'no_rule_allows' }, rules: [] });
  });

  it('denies a call that only an escalate or throttle rule matches: they qualify an allow, they do not grant one', () => {
    const p = policyOf(
      { id: 'esc', when: 'action eq "Destructive"', then: 'escalate', route: 'manager' },
      { id: 'thr', when: 'action eq "Read"', then: 'throttle', limit: { max: 1, windowSeconds: 60, per: 'task' } },
    );
    expect(p.evaluate(call('github.delete_branch'))).toMatchObject({ decision: 'deny', reason: { code: 'no_rule_allows' } });
    expect(p.evaluate(call('github.read_repo'), { count: () => 5 })).toMatchObject({ decision: 'deny', reason: { code: 'no_rule_allows' } });
  });

  const deny: Rule = { id: 'deny', when: 'user.active eq true', then: 'deny' };
  const escalate: Rule = { id: 'escalate', when: 'user.active eq true', then: 'escalate', route: 'manager' };
  const throttle: Rule = { id: 'throttle', when: 'user.active eq true', then: 'throttle', limit: { max: 1, windowSeconds: 60, per: 'task' } };
  const byId: Record<string, Rule> = { 'allow-all': allowAll, deny, escalate, throttle };
  it.each([
    [['allow-all'], 'allow', 'allow-all'],
    [['allow-all', 'throttle'], 'throttle', 'throttle'],
    [['throttle', 'allow-all', 'escalate'], 'escalate', 'escalate'],
    [['allow-all', 'escalate', 'deny', 'throttle'], 'deny', 'deny'],
    [['deny'], 'deny', 'deny'],
  ])('takes the most restrictive outcome of %j: %s by rule %s', (ids, want, by) => {
    const d = policyOf(...ids.map((id) => byId[id])).evaluate(call('github.read_repo'), { count: () => 1 });
    expect(d.decision).toBe(want);
    expect(decidedBy(d)).toBe(by);
    expect(d.rules.map((m) => m.id)).toEqual(ids);
  });

  it('gives a deny rule its reason, or denied_by_rule with its description', () => {
    const withReason = policyOf(allowAll, { id: 'no-contractors', when: 'user.userType eq "Contractor"', then: 'deny', reason: { code: 'contractor', message: 'Not for contractors.' } });
    expect(withReason.evaluate(call('github.read_repo', { user: dave })).reason).toEqual({ code: 'contractor', message: 'Not for contractors.' });
    const described = policyOf(allowAll, { id: 'no-contractors', description: 'No contractors.', when: 'user.userType eq "Contractor"', then: 'deny' });
    expect(described.evaluate(call('github.read_repo', { user: dave })).reason).toEqual({ code: 'denied_by_rule', message: 'No contractors.' });
  });

  it('escalates to the route of the first matching escalate rule in bundle order', () => {
    const p = policyOf(
      allowAll,
      { id: 'esc-security', when: 'app.dataClassification eq "customer"', then: 'escalate', route: 'security' },
      { id: 'esc-manager', when: 'action eq "Read"', then: 'escalate', route: 'manager' },
    );
    expect(p.evaluate(call('crm.read_customer'))).toMatchObject({ decision: 'escalate', route: 'security', reason: { code: 'approval_required' } });
    expect(p.evaluate(call('github.read_repo'))).toMatchObject({ decision: 'escalate', route: 'manager' });
  });

  it('decides from the call alone: the same input gives the same decision, and the input is not changed', () => {
    const p = policyOf(allowAll, { id: 'esc', when: 'args.amount gt 100', then: 'escalate', route: 'manager' });
    const input = call('payments.refund', { args: { amount: 500, orderId: 'o' } });
    const copy = structuredClone(input);
    expect(p.evaluate(input)).toEqual(p.evaluate(input));
    expect(input).toEqual(copy);
  });
});

describe('refusals before any rule', () => {
  const p = policyOf(allowAll, { id: 'anything', when: 'tool pr or not (tool pr)', then: 'deny', mode: 'shadow' });

  it('denies an unknown tool with unknown_tool, evaluating no rule', () => {
    expect(p.evaluate(call('shell.exec'))).toEqual({
      decision: 'deny',
      reason: { code: 'unknown_tool', message: expect.stringContaining('shell.exec') },
      rules: [],
      policyVersion: p.version,
    });
  });

  it.each([
    ['a missing required argument', { amount: 5 }, "must have required property 'orderId'"],
    ['a wrongly typed argument', { amount: 'five', orderId: 'o' }, 'arguments/amount must be number'],
    ['an unexpected argument', { amount: 5, orderId: 'o', note: 'x' }, 'must NOT have additional properties'],
  ])('denies %s with invalid_arguments naming the problem', (_, args, problem) => {
    const d = p.evaluate(call('payments.refund', { args }));
    expect(d).toMatchObject({ decision: 'deny', reason: { code: 'invalid_arguments' }, rules: [] });
    expect(d.reason!.message).toContain(problem);
  });

  it('checks formats, and treats absent arguments as none', () => {
    expect(p.evaluate(call('web.post', { args: { url: 'not a url' } })).reason?.code).toBe('invalid_arguments');
    expect(p.evaluate(call('github.read_repo', { args: undefined })).reason?.code).toBe('invalid_arguments');
    expect(p.evaluate(call('github.delete_branch', { args: undefined })).decision).toBe('allow');
  });

  it('accepts x-sensitive arguments and never echoes argument values', () => {
    expect(p.evaluate(call('payments.refund', { args: { amount: 5, orderId: 'o', cardNumber: '4111111111111111' } })).decision).toBe('allow');
    const d = p.evaluate(call('payments.refund', { args: { amount: 5, orderId: 'o', cardNumber: 4111111111111111 } }));
    expect(d.reason!.message).toContain('arguments/cardNumber must be string');
    expect(d.reason!.message).not.toContain('4111');
  });

  it('skips the argument check for a replay that has no arguments', () => {
    expect(p.evaluate(call('payments.refund', { args: undefined }), undefined, { argumentsChecked: true }).decision).toBe('allow');
  });
});

describe('shadow rules', () => {
  const shadowDeny: Rule = { id: 'shadow-contractors', when: 'user.userType eq "Contractor"', then: 'deny', mode: 'shadow' };

  it('are recorded with what they would have decided, without changing the outcome', () => {
    const d = policyOf(allowAll, shadowDeny).evaluate(call('crm.read_customer', { user: dave }));
    expect(d).toMatchObject({
      decision: 'allow',
      shadowDecision: 'deny',
      rules: [
        { id: 'allow-all', mode: 'enforce', outcome: 'allow' },
        { id: 'shadow-contractors', mode: 'shadow', outcome: 'deny' },
      ],
    });
  });

  it('leave shadowDecision unset when none matched', () => {
    expect(policyOf(allowAll, shadowDeny).evaluate(call('crm.read_customer')).shadowDecision).toBeUndefined();
  });

  it('report the outcome a shadow allow would give to a call denied today', () => {
    const d = policyOf({ id: 'try-allow', when: 'app.id eq "crm"', then: 'allow', mode: 'shadow' }).evaluate(call('crm.read_customer'));
    expect(d).toMatchObject({ decision: 'deny', reason: { code: 'no_rule_allows' }, shadowDecision: 'allow' });
    expect(decidedBy(d)).toBeUndefined();
  });
});

describe('session-aware rules', () => {
  const p = policyOf(
    allowAll,
    { id: 'burst', when: 'action eq "Destructive" and session.actions.Destructive ge 3', then: 'deny', reason: { code: 'destructive_limit', message: 'Too many.' } },
    { id: 'exfil', when: 'action eq "External" and session.dataClassificationsRead eq "customer"', then: 'escalate', route: 'security' },
  );
  const session = (over: Partial<ReturnType<typeof emptySession>>) => ({ ...emptySession(), ...over });

  it('deny the fourth destructive call of a task', () => {
    expect(p.evaluate(call('github.delete_branch', { session: session({ actions: { Read: 0, Write: 0, Destructive: 2, External: 0 } }) })).decision).toBe('allow');
    expect(p.evaluate(call('github.delete_branch', { session: session({ actions: { Read: 0, Write: 0, Destructive: 3, External: 0 } }) })).reason?.code).toBe('destructive_limit');
  });

  it('escalate sending data out after customer data was read', () => {
    expect(p.evaluate(call('web.post', { session: session({ dataClassificationsRead: ['internal'] }) })).decision).toBe('allow');
    expect(p.evaluate(call('web.post', { session: session({ dataClassificationsRead: ['internal', 'customer'] }) }))).toMatchObject({ decision: 'escalate', route: 'security' });
  });

  it('see an empty session when the call has none', () => {
    expect(p.evaluate(call('web.post', { session: undefined })).decision).toBe('allow');
  });
});

describe('throttle rules', () => {
  const limit = { max: 3, windowSeconds: 60, per: 'task' as const };
  const p = policyOf(allowAll, { id: 'reads', when: 'tool.id eq "github.read_repo"', then: 'throttle', limit });

  /** Counts per scope and window, and the questions asked. */
  function counter(counts: Partial<Record<ThrottleScope, number>>): RateCounter & { asked: [ThrottleScope, number][] } {
    const asked: [ThrottleScope, number][] = [];
    return { asked, count: (per, windowSeconds) => (asked.push([per, windowSeconds]), counts[per] ?? 0) };
  }

  it.each([
    [0, 'allow'],
    [2, 'allow'],
    [3, 'throttle'],
    [50, 'throttle'],
  ])('with %i calls in the window → %s', (n, want) => {
    const rates = counter({ task: n });
    const d = p.evaluate(call('github.read_repo'), rates);
    expect(d.decision).toBe(want);
    expect(rates.asked).toEqual([['task', 60]]);
    if (want === 'throttle') expect(d).toMatchObject({ reason: { code: 'rate_limited' }, rules: [{ id: 'allow-all' }, { id: 'reads', outcome: 'throttle' }] });
    expect(d.retryAfterMs).toBeUndefined();
  });

  it('does not count calls the condition does not cover', () => {
    const rates = counter({ task: 99 });
    expect(p.evaluate(call('crm.read_customer'), rates).decision).toBe('allow');
    expect(rates.asked).toEqual([]);
  });

  it('counts nothing without a rate counter', () => {
    expect(p.evaluate(call('github.read_repo')).decision).toBe('allow');
  });

  it('counts in the rule’s own scope', () => {
    const perPerson = policyOf(allowAll, { id: 'p', when: 'user.active eq true', then: 'throttle', limit: { max: 10, windowSeconds: 3600, per: 'person' } });
    expect(perPerson.evaluate(call('github.read_repo'), counter({ task: 99, person: 10 })).decision).toBe('throttle');
    expect(perPerson.evaluate(call('github.read_repo'), counter({ task: 99, person: 9 })).decision).toBe('allow');
  });
});

describe('an explanation', () => {
  const p = policyOf(
    { id: 'no-contractors', when: 'user.userType eq "Contractor" and action eq "Destructive"', then: 'deny' },
    { id: 'reads', when: 'action eq "Read"', then: 'throttle', limit: { max: 5, windowSeconds: 60, per: 'task' } },
    allowAll,
  );

  it('says for every rule whether it matched and why', () => {
    const e = p.explain(call('github.read_repo'), { count: () => 2 });
    expect(e.decision).toBe('allow');
    expect(e.explanation).toEqual([
      { id: 'no-contractors', matched: false, mode: 'enforce', outcome: 'deny', why: 'user.userType eq "Contractor" is false (user.userType: "Employee")' },
      { id: 'reads', matched: false, mode: 'enforce', outcome: 'throttle', why: 'when holds; 2 call(s) in 60s per task < limit 5' },
      { id: 'allow-all', matched: true, mode: 'enforce', outcome: 'allow', why: 'when holds' },
    ]);
  });

  it('says no rule was evaluated for a refused call', () => {
    const e = p.explain(call('shell.exec'));
    expect(e.explanation.map((x) => x.why)).toEqual(Array(3).fill('not evaluated: unknown_tool'));
  });
});

describe('the version', () => {
  const bundle = bundleWith([allowAll, { id: 'esc', when: 'action eq "Destructive"', then: 'escalate', route: 'manager' }]);

  it('is the sha256 of the canonical bundle, whatever its key order', () => {
    const reversed = (v: unknown): unknown =>
      Array.isArray(v) ? v.map(reversed) : v && typeof v === 'object' ? Object.fromEntries(Object.entries(v).reverse().map(([k, x]) => [k, reversed(x)])) : v;
    const shuffled = reversed(bundle) as typeof bundle;
    expect(JSON.stringify(shuffled)).not.toBe(JSON.stringify(bundle));
    expect(compilePolicy(bundle).version).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(compilePolicy(shuffled).version).toBe(compilePolicy(bundle).version);
  });

  it('survives a round trip through JSON (the bundle read back from the database)', () => {
    expect(compilePolicy(JSON.parse(JSON.stringify(bundle))).version).toBe(compilePolicy(bundle).version);
  });

  it('changes when a rule changes', () => {
    const changed = { ...bundle, rules: [allowAll, { ...bundle.rules[1], route: 'security' }] };
    expect(compilePolicy(changed).version).not.toBe(compilePolicy(bundle).version);
  });

  it('is pinned on every decision', () => {
    const p = compilePolicy(bundle);
    expect(p.evaluate(call('github.read_repo')).policyVersion).toBe(p.version);
  });
});

describe('lookups', () => {
  const p = policyOf(allowAll, { id: 'refunds', when: 'tool.id eq "payments.refund" and args.amount gt 10', then: 'escalate', route: 'manager' });

  it('find tools, apps and routes by id', () => {
    expect(p.tool('github.read_repo')?.app).toBe('github');
    expect(p.tool('shell.exec')).toBeUndefined();
    expect(p.app('crm')?.dataClassification).toBe('customer');
    expect(p.route('manager')?.steps).toHaveLength(1);
    expect(p.route('nobody')).toBeUndefined();
  });

  it('know which tools have rules that read arguments', () => {
    expect(p.readsArguments('payments.refund')).toBe(true);
    expect(p.readsArguments('github.read_repo')).toBe(false);
  });

  it('a user attribute spelled in any case still matches', () => {
    expect(policyOf({ id: 'a', when: 'USER.DEPARTMENT eq "Engineering"', then: 'allow' }).evaluate(call('github.read_repo', { user: alice })).decision).toBe('allow');
  });
});
