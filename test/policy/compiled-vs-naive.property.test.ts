// The compiled, indexed evaluator decides exactly as a naive one: every rule, in bundle order,
// through scim2-parse-filter's own tree-walking tester (with policy's documented operator
// semantics layered on it), no index, no closures.
import fc from 'fast-check';
import { parse, Tester, type Filter } from 'scim2-parse-filter';
import type { ActionClass, App, Decision, EvaluationInput, GovernanceBundle, Outcome, PolicyUser, RateCounter, Rule, ThrottleScope, Tool } from '../../src/policy/bundle';
import { compilePolicy } from '../../src/policy/compile';
import { emptySession } from '../../src/policy/session';

const APPS: App[] = (['a', 'b', 'c'] as const).map((id, i) => ({
  id,
  name: id,
  category: 'x',
  riskLevel: (['low', 'high', 'critical'] as const)[i],
  dataClassification: ['internal', 'customer', 'public'][i],
  owner: 'bob',
  connector: { type: 'none' },
  entitlements: [],
}));
const TOOLS: Tool[] = (
  [
    ['a.read', 'a', 'Read'],
    ['a.write', 'a', 'Write'],
    ['b.read', 'b', 'Read'],
    ['b.delete', 'b', 'Destructive'],
    ['c.post', 'c', 'External'],
    ['c.read', 'c', 'Read'],
  ] as const
).map(([id, app, action]) => ({ id, app, action, description: id, arguments: { type: 'object' } }));
const ACTIONS: ActionClass[] = ['Read', 'Write', 'Destructive', 'External'];
const SCOPES: ThrottleScope[] = ['person', 'agent', 'task', 'tool', 'app'];
const TIMES = ['2025-03-04T10:00:00Z', '2025-03-04T12:00:00+02:00', '2025-03-04T09:30:00.500Z', '2025-03-05', '2025-03-04T10:00', 'soon'];
const CLASSES = ['internal', 'customer', 'public'];
const GROUPS = ['eng', 'sales', 'security', 'oncall'];
const EMAILS = ['a@example.com', 'b@example.org', 'c@corp.example.com'];

/** Attribute paths with the values worth comparing them to. */
const PATHS: [string, (string | number | boolean | null)[]][] = [
  ['tool.id', [...TOOLS.map((t) => t.id)]],
  ['tool.app', APPS.map((a) => a.id)],
  ['app.id', APPS.map((a) => a.id)],
  ['action', ACTIONS],
  ['app.dataClassification', CLASSES],
  ['app.riskLevel', ['low', 'high', 'critical']],
  ['user.userType', ['Employee', 'Contractor']],
  ['user.department', ['Eng', 'Sales', 'Support', 'E']],
  ['user.groups', GROUPS],
  ['user.active', [true, false]],
  ['user.level', [0, 1, 3, 5, 2.5]],
  ['user.nickName', ['', 'x', null]],
  ['user.manager', ['bob', null]],
  ['user.hiredAt', TIMES],
  ['user.emails', EMAILS],
  ['user.emails.value', [...EMAILS, '.com', 'example']],
  ['user.emails.type', ['work', 'home']],
  ['user.missing', ['x', 1]],
  ['session.actions.Destructive', [0, 1, 2, 3]],
  ['session.dataClassificationsRead', CLASSES],
  ['session.calls', [0, 5, 10]],
  // No negative constants: scim2-parse-filter only reads `-3` at the very end of a filter.
  ['args.amount', [0, 10, 1000, 1000.5, '10']],
  ['args.tags', ['x', 'y']],
  ['args.note', ['hello', 'he', 'lo']],
  ['time', TIMES],
  ['task.id', ['t-1', 't-']],
  ['agent.owner', ['alice', 'dave']],
];
const OPS = ['eq', 'ne', 'co', 'sw', 'ew', 'gt', 'ge', 'lt', 'le'];

const anyCase = (s: string) => fc.constantFrom(s, s.toUpperCase(), s.toLowerCase());
const comparison = fc
  .constantFrom(...PATHS)
  .chain(([path, values]) =>
    fc.oneof(
      { weight: 8, arbitrary: fc.tuple(anyCase(path), fc.constantFrom(...OPS), fc.constantFrom(...values)).map(([p, op, v]) => `${p} ${op} ${JSON.stringify(v)}`) },
      { weight: 1, arbitrary: anyCase(path).map((p) => `${p} pr`) },
    ),
  );
const valuePath = fc
  .tuple(fc.constantFrom('work', 'home'), fc.constantFrom('.com', '.org', 'example'), fc.constantFrom('ew', 'co', 'sw'))
  .map(([type, v, op]) => `user.emails[type eq "${type}" and value ${op} "${v}"]`);
const { filter } = fc.letrec<{ filter: string }>((tie) => ({
  filter: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    comparison,
    valuePath,
    fc.tuple(tie('filter'), fc.constantFrom('and', 'or'), tie('filter')).map(([a, op, b]) => `(${a}) ${op} (${b})`),
    tie('filter').map((f) => `not (${f})`),
  ),
}));
/** Conditions the index can use, and look-alikes it must not, on top of a random remainder. */
const indexed = fc.oneof(
  fc.constantFrom(...TOOLS).map((t) => `tool.id eq "${t.id}"`),
  fc.constantFrom(...APPS).map((a) => `app.id eq "${a.id}"`),
  fc.constantFrom(...ACTIONS).map((a) => `Action EQ "${a}"`),
  fc.tuple(fc.constantFrom(...TOOLS), fc.constantFrom(...TOOLS)).map(([x, y]) => `(tool.id eq "${x.id}" or tool.id eq "${y.id}")`),
  fc.constantFrom(...TOOLS).map((t) => `tool.id ne "${t.id}"`),
  fc.constantFrom(...APPS).map((a) => `not (tool.app eq "${a.id}")`),
  fc.tuple(fc.constantFrom(...TOOLS), fc.constantFrom(...APPS)).map(([t, a]) => `(tool.id eq "${t.id}" or app.id eq "${a.id}")`),
);
const when = fc.oneof(filter, fc.tuple(indexed, filter).map(([i, f]) => `${i} and (${f})`), fc.tuple(filter, indexed).map(([f, i]) => `(${f}) and ${i}`), indexed);

const rule = fc
  .record({
    when,
    then: fc.constantFrom<Outcome>('allow', 'allow', 'deny', 'escalate', 'throttle'),
    shadow: fc.boolean(),
    route: fc.constantFrom('r1', 'r2'),
    limit: fc.record({ max: fc.integer({ min: 1, max: 4 }), windowSeconds: fc.constantFrom(60, 3600), per: fc.constantFrom(...SCOPES) }),
  })
  .map(({ when, then, shadow, route, limit }): Omit<Rule, 'id'> => ({
    when,
    then,
    ...(shadow ? { mode: 'shadow' as const } : {}),
    ...(then === 'escalate' ? { route } : {}),
    ...(then === 'throttle' ? { limit } : {}),
  }));

const subset = <T>(xs: T[]) => fc.subarray(xs);
const input = fc.record({
  toolId: fc.constantFrom(...TOOLS.map((t) => t.id), 'unknown.tool'),
  user: fc.record(
    {
      id: fc.constantFrom('alice', 'dave'),
      userType: fc.constantFrom('Employee', 'Contractor'),
      department: fc.constantFrom('Eng', 'Sales', 'Support'),
      active: fc.boolean(),
      groups: subset(GROUPS),
      level: fc.constantFrom(0, 1, 2.5, 3, 5),
      nickName: fc.constantFrom('', 'x'),
      manager: fc.constantFrom('bob', null),
      hiredAt: fc.constantFrom(...TIMES),
      emails: fc.array(fc.record({ type: fc.constantFrom('work', 'home'), value: fc.constantFrom(...EMAILS) }), { maxLength: 3 }),
    },
    { requiredKeys: ['id', 'active'] },
  ),
  agent: fc.record({ id: fc.constant('agent-1'), owner: fc.constantFrom('alice', 'dave') }),
  args: fc.record({ amount: fc.constantFrom(0, 10, 999, 1000, 1000.5, 5000, -3), tags: subset(['x', 'y']), note: fc.constantFrom('hello', 'lo') }, { requiredKeys: [] }),
  session: fc.option(
    fc.record({
      calls: fc.nat(10),
      destructive: fc.nat(4),
      dataClassificationsRead: subset(CLASSES),
    }),
    { nil: undefined },
  ),
  taskId: fc.option(fc.constantFrom('t-1', 't-2'), { nil: undefined }),
  time: fc.constantFrom(...TIMES.slice(0, 5)),
  rates: fc.record({ person: fc.nat(5), agent: fc.nat(5), task: fc.nat(5), tool: fc.nat(5), app: fc.nat(5) }),
});

type Input = typeof input extends fc.Arbitrary<infer T> ? T : never;

function toEvaluation(i: Input): { input: EvaluationInput; rates: RateCounter } {
  const session = i.session && { ...emptySession(), calls: i.session.calls, actions: { ...emptySession().actions, Destructive: i.session.destructive }, dataClassificationsRead: i.session.dataClassificationsRead };
  // `manager: null` is not a PolicyUser, but what a directory may hold and `eq null` must see.
  return { input: { user: i.user as PolicyUser, agent: i.agent, toolId: i.toolId, args: i.args, session, taskId: i.taskId, time: i.time }, rates: { count: (per) => i.rates[per] } };
}

// ---- the naive reference ----

const ISO = /^\d{4}-\d{2}-\d{2}(?:T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})?)?$/;
const when_ = (s: unknown): number | undefined => {
  if (typeof s !== 'string') return undefined;
  const m = ISO.exec(s);
  return m ? Date.parse(s.length > 10 && !m[1] ? `${s}Z` : s) : undefined;
};

/** The library's tester, plus: lists match on any element, `pr` wants a non-empty value, complex values compare their `value`, and ordering is typed (instants for ISO strings). */
class PolicySemantics extends Tester {
  override attrTest(path: string[], r: unknown, op: (r: unknown) => boolean): boolean {
    if (path.length === 0 && Array.isArray(r)) return r.some((e) => this.attrTest(path, e, op));
    return super.attrTest(path, r, op);
  }
  override pr(r: unknown): boolean {
    return r !== undefined && r !== null && r !== '' && !(typeof r === 'object' && Object.keys(r).length === 0);
  }
  private simple(r: unknown): unknown {
    return typeof r === 'object' && r !== null ? (r as { value?: unknown }).value : r;
  }
  override eq(r: unknown, v: unknown) {
    return this.simple(r) !== undefined && this.simple(r) === v;
  }
  override ne(r: unknown, v: unknown) {
    return this.simple(r) !== undefined && this.simple(r) !== v;
  }
  private str(r: unknown, v: unknown, test: (s: string, n: string) => boolean) {
    const s = this.simple(r);
    return v !== null && ['string', 'number', 'boolean'].includes(typeof s) && test(String(s), String(v));
  }
  override co(r: unknown, v: never) {
    return this.str(r, v, (s, n) => s.includes(n));
  }
  override sw(r: unknown, v: never) {
    return this.str(r, v, (s, n) => s.startsWith(n));
  }
  override ew(r: unknown, v: never) {
    return this.str(r, v, (s, n) => s.endsWith(n));
  }
  private order(r: unknown, v: unknown): number | undefined {
    const s = this.simple(r);
    if (typeof s === 'number' && typeof v === 'number') return s - v;
    if (typeof s !== 'string' || typeof v !== 'string') return undefined;
    const [a, b] = [when_(s), when_(v)];
    if (a !== undefined && b !== undefined) return a - b;
    return s < v ? -1 : s > v ? 1 : 0;
  }
  override gt(r: unknown, v: never) {
    return (this.order(r, v) ?? NaN) > 0;
  }
  override ge(r: unknown, v: never) {
    return (this.order(r, v) ?? NaN) >= 0;
  }
  override lt(r: unknown, v: never) {
    return (this.order(r, v) ?? NaN) < 0;
  }
  override le(r: unknown, v: never) {
    return (this.order(r, v) ?? NaN) <= 0;
  }
}

function naive(bundle: GovernanceBundle, input: EvaluationInput, rates: RateCounter) {
  const tool = bundle.tools.find((t) => t.id === input.toolId);
  if (!tool) return { decision: 'deny', reasonCode: 'unknown_tool', rules: [] };
  const doc = {
    user: input.user,
    agent: input.agent,
    app: bundle.apps.find((a) => a.id === tool.app),
    tool,
    action: tool.action,
    args: input.args ?? {},
    session: input.session ?? emptySession(),
    time: input.time,
    task: { id: input.taskId },
  };
  const tester = new PolicySemantics();
  const matched = bundle.rules.filter((r) => tester.test(doc, parse(r.when) as Filter) && (!r.limit || rates.count(r.limit.per, r.limit.windowSeconds) >= r.limit.max));
  const outcome = (rs: Rule[]): Outcome =>
    rs.some((r) => r.then === 'deny') ? 'deny' : !rs.some((r) => r.then === 'allow') ? 'deny' : rs.some((r) => r.then === 'escalate') ? 'escalate' : rs.some((r) => r.then === 'throttle') ? 'throttle' : 'allow';
  const enforcing = matched.filter((r) => r.mode !== 'shadow');
  const decision = outcome(enforcing);
  const firstDeny = enforcing.find((r) => r.then === 'deny');
  return {
    decision,
    reasonCode: decision === 'deny' ? (firstDeny ? 'denied_by_rule' : 'no_rule_allows') : decision === 'escalate' ? 'approval_required' : decision === 'throttle' ? 'rate_limited' : undefined,
    route: decision === 'escalate' ? enforcing.find((r) => r.then === 'escalate')!.route : undefined,
    rules: matched.map((r) => ({ id: r.id, mode: r.mode ?? 'enforce', outcome: r.then })),
    shadowDecision: matched.some((r) => r.mode === 'shadow') ? outcome(matched) : undefined,
  };
}

const observable = (d: Decision) => ({ decision: d.decision, reasonCode: d.reason?.code, route: d.route, rules: d.rules, shadowDecision: d.shadowDecision });

describe('the compiled evaluator', () => {
  it('decides every call as the naive evaluator does', () => {
    fc.assert(
      fc.property(fc.array(rule, { minLength: 1, maxLength: 25 }), fc.array(input, { minLength: 1, maxLength: 25 }), (rules, inputs) => {
        const bundle: GovernanceBundle = {
          apps: APPS,
          tools: TOOLS,
          routes: ['r1', 'r2'].map((id) => ({ id, steps: [{ approvers: ['app.owner'], timeoutSeconds: 60 }] })),
          rules: rules.map((r, i) => ({ id: `rule-${i}`, ...r })),
          tests: [],
        };
        const policy = compilePolicy(bundle);
        for (const i of inputs) {
          const { input, rates } = toEvaluation(i);
          expect(observable(policy.evaluate(input, rates))).toEqual(naive(bundle, input, rates));
        }
      }),
      { numRuns: 200 },
    );
  });
});
