// Pure evaluation latency of the compiled policy at 10 to 10,000 generated rules spread over many
// apps and tools (so the rule index matters), and the example policy side by side with the same
// policy written in Cedar and evaluated by @cedar-policy/cedar-wasm.
import path from 'node:path';
import * as cedar from '@cedar-policy/cedar-wasm/nodejs';
import type { ActionClass, EvaluationInput, GovernanceBundle, Outcome, RateCounter, Rule, Tool } from '../src/policy/bundle';
import type { BundleTestCaseWithRates } from '../src/policy/bundle-tests';
import { compilePolicy, type CompiledPolicy } from '../src/policy/compile';
import { loadBundleDir } from '../src/policy/load-bundle';
import { emptySession } from '../src/policy/session';
import { exitWhenDone } from './harness';

const ACTIONS: ActionClass[] = ['Read', 'Write', 'Destructive', 'External'];
const DEPARTMENTS = Array.from({ length: 12 }, (_, i) => `dept-${i}`);
const GROUPS = Array.from({ length: 20 }, (_, i) => `group-${i}`);

/** A deterministic pseudo-random sequence, so every run measures the same bundles and calls. */
function random(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * `n` rules over n/5 tools in n/20 apps: most name their tool or app (as real bundles do), a
 * few name only an action class, and up to ten (session limits, contractor rules) apply to every call.
 */
export function generatedBundle(n: number): GovernanceBundle {
  const rnd = random(n);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)];
  const toolCount = Math.max(8, Math.round(n / 5));
  const appCount = Math.max(2, Math.round(toolCount / 4));
  const schema = { type: 'object', properties: { amount: { type: 'number' }, id: { type: 'string' } }, additionalProperties: false };
  const apps = Array.from({ length: appCount }, (_, i) => ({
    id: `app-${i}`,
    name: `App ${i}`,
    category: 'generated',
    riskLevel: pick(['low', 'medium', 'high', 'critical'] as const),
    dataClassification: pick(['internal', 'customer', 'financial']),
    owner: 'bob',
    connector: { type: 'none' as const },
    entitlements: [],
  }));
  const tools: Tool[] = Array.from({ length: toolCount }, (_, i) => ({
    id: `app-${i % appCount}.tool-${i}`,
    app: `app-${i % appCount}`,
    action: ACTIONS[i % ACTIONS.length],
    description: `Tool ${i}`,
    arguments: schema,
  }));
  const global = Math.min(10, Math.ceil(n / 10));
  const byAction = Math.min(20, Math.ceil(n / 20));
  const rules: Rule[] = [];
  for (let i = 0; i < n; i++) {
    const id = `rule-${i}`;
    if (i < global) {
      rules.push(
        pick<Rule>([
          { id, when: `user.userType eq "Contractor" and app.dataClassification eq "customer" and user.groups eq "${pick(GROUPS)}"`, then: 'deny' },
          { id, when: `session.calls ge ${100 + i} and user.department eq "${pick(DEPARTMENTS)}"`, then: 'deny' },
          { id, when: `user.emails[type eq "work" and value ew "@contractor.example"] and session.actions.Destructive ge 1`, then: 'escalate', route: 'manager' },
        ]),
      );
    } else if (i < global + byAction) {
      rules.push({ id, when: `action eq "${pick(ACTIONS)}" and session.actions.Destructive ge ${1 + (i % 5)}`, then: 'deny' });
    } else if (rnd() < 0.6) {
      const tool = pick(tools);
      rules.push(
        pick<Rule>([
          { id, when: `tool.id eq "${tool.id}" and user.department eq "${pick(DEPARTMENTS)}"`, then: 'allow' },
          { id, when: `tool.id eq "${tool.id}" and user.groups eq "${pick(GROUPS)}"`, then: 'allow' },
          { id, when: `tool.id eq "${tool.id}" and args.amount gt ${Math.floor(rnd() * 1000)}`, then: 'escalate', route: 'manager' },
          { id, when: `tool.id eq "${tool.id}"`, then: 'throttle', limit: { max: 100, windowSeconds: 60, per: 'task' } },
        ]),
      );
    } else {
      const app = pick(apps);
      rules.push(
        pick<Rule>([
          { id, when: `app.id eq "${app.id}" and (user.department eq "${pick(DEPARTMENTS)}" or user.groups eq "${pick(GROUPS)}")`, then: 'allow' },
          { id, when: `app.id eq "${app.id}" and user.userType eq "Contractor" and not (user.groups eq "${pick(GROUPS)}")`, then: 'deny' },
        ]),
      );
    }
  }
  return { apps, tools, routes: [{ id: 'manager', steps: [{ approvers: ['delegator.manager'], timeoutSeconds: 3600 }] }], rules, tests: [] };
}

function generatedCalls(bundle: GovernanceBundle, count: number): EvaluationInput[] {
  const rnd = random(7);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)];
  return Array.from({ length: count }, (_, i) => ({
    user: {
      id: `person-${i % 50}`,
      userType: rnd() < 0.2 ? 'Contractor' : 'Employee',
      department: pick(DEPARTMENTS),
      active: true,
      groups: [pick(GROUPS), pick(GROUPS)],
      emails: [{ value: `person-${i % 50}@example.com`, type: 'work' }],
    },
    agent: { id: 'agent-1', owner: 'person-1' },
    toolId: pick(bundle.tools).id,
    args: { amount: Math.floor(rnd() * 2000), id: `o-${i}` },
    session: { ...emptySession(), calls: Math.floor(rnd() * 50), actions: { Read: 3, Write: 1, Destructive: Math.floor(rnd() * 3), External: 0 } },
    taskId: `task-${i % 20}`,
    time: '2025-03-04T10:00:00Z',
  }));
}

interface Percentiles {
  p50: number;
  p99: number;
}

/** Per-call latency in µs (each call timed on its own, timer overhead included). */
function measure(calls: number, run: (i: number) => void): Percentiles {
  for (let i = 0; i < Math.min(calls, 5_000); i++) run(i);
  const samples = new Float64Array(calls);
  for (let i = 0; i < calls; i++) {
    const t0 = process.hrtime.bigint();
    run(i);
    samples[i] = Number(process.hrtime.bigint() - t0) / 1_000;
  }
  samples.sort();
  return { p50: samples[Math.floor(calls * 0.5)], p99: samples[Math.floor(calls * 0.99)] };
}

const fmt = (x: number) => x.toFixed(2).padStart(8);

// ---- the example policy in Cedar ----

/**
 * governance/rules.yaml in Cedar. Cedar has only permit and forbid, so the outcomes are
 * annotations: `deny` rules are forbids; escalate, throttle and allow rules are permits, and the
 * satisfied permits Cedar reports are ranked like ours (an escalate or throttle needs an allow).
 * The shadow rule is left out: Cedar has no shadow mode.
 */
const CEDAR_RULES: { id: string; outcome: Outcome; text: string }[] = [
  { id: 'deny-contractor-destructive', outcome: 'deny', text: 'forbid (principal, action, resource) when { principal.userType == "Contractor" && resource.action == "Destructive" };' },
  { id: 'deny-destructive-burst', outcome: 'deny', text: 'forbid (principal, action, resource) when { resource.action == "Destructive" && context.session.destructive >= 3 };' },
  { id: 'escalate-external-after-customer-data', outcome: 'escalate', text: 'permit (principal, action, resource) when { resource.action == "External" && context.session.dataClassificationsRead.contains("customer") };' },
  { id: 'escalate-customer-export', outcome: 'escalate', text: 'permit (principal, action, resource == Tool::"crm.export_customers");' },
  { id: 'escalate-large-refund', outcome: 'escalate', text: 'permit (principal, action, resource == Tool::"payments.refund") when { context.args has amount && context.args.amount > 1000 };' },
  { id: 'escalate-destructive', outcome: 'escalate', text: 'permit (principal, action, resource) when { resource.action == "Destructive" };' },
  { id: 'throttle-repo-reads', outcome: 'throttle', text: 'permit (principal, action, resource == Tool::"github.read_repo") when { context.rates.task >= 100 };' },
  { id: 'allow-read-active-employees', outcome: 'allow', text: 'permit (principal, action, resource) when { resource.action == "Read" && principal.userType == "Employee" && principal.active };' },
  { id: 'allow-github-write', outcome: 'allow', text: 'permit (principal, action, resource) when { resource.app == "github" && resource.action == "Write" && principal.groups.contains("engineering") };' },
  { id: 'allow-github-destructive', outcome: 'allow', text: 'permit (principal, action, resource) when { resource.app == "github" && resource.action == "Destructive" && principal.groups.contains("engineering") };' },
  { id: 'allow-wiki-edit-employees', outcome: 'allow', text: 'permit (principal, action, resource == Tool::"wiki.edit_page") when { principal.userType == "Employee" };' },
  { id: 'allow-support-crm-read', outcome: 'allow', text: 'permit (principal, action, resource == Tool::"crm.read_customer") when { principal.groups.contains("support") };' },
  { id: 'allow-support-refunds', outcome: 'allow', text: 'permit (principal, action, resource == Tool::"payments.refund") when { principal.groups.contains("support") };' },
  { id: 'allow-external-employees', outcome: 'allow', text: 'permit (principal, action, resource) when { resource.action == "External" && principal.userType == "Employee" };' },
];
const CEDAR_OUTCOME = new Map(CEDAR_RULES.map((r) => [r.id, r.outcome]));

function cedarCall(policy: CompiledPolicy, input: EvaluationInput, rates: Record<string, number>): cedar.StatefulAuthorizationCall {
  const tool = policy.tool(input.toolId)!;
  const u = input.user;
  const session = input.session ?? emptySession();
  return {
    principal: { type: 'User', id: u.id },
    action: { type: 'Action', id: 'call' },
    resource: { type: 'Tool', id: tool.id },
    context: {
      args: (input.args ?? {}) as cedar.Context,
      session: { destructive: session.actions.Destructive, dataClassificationsRead: session.dataClassificationsRead },
      rates: { task: rates.task ?? 0 },
    },
    entities: [
      { uid: { type: 'User', id: u.id }, attrs: { userType: u.userType ?? '', department: u.department ?? '', active: u.active, groups: u.groups ?? [] }, parents: [] },
      { uid: { type: 'Tool', id: tool.id }, attrs: { app: tool.app, action: tool.action }, parents: [] },
    ],
    preparsedPolicySetId: 'example',
  };
}

function cedarOutcome(answer: cedar.AuthorizationAnswer): Outcome {
  if (answer.type !== 'success') throw new Error(answer.errors.map((e) => e.message).join('; '));
  const matched = answer.response.diagnostics.reason.map((id) => CEDAR_OUTCOME.get(id));
  if (answer.response.decision === 'deny' || !matched.includes('allow')) return 'deny';
  return matched.includes('escalate') ? 'escalate' : matched.includes('throttle') ? 'throttle' : 'allow';
}

function cedarSideBySide(): void {
  const { bundle, errors } = loadBundleDir(path.resolve('governance'));
  if (errors.length) throw new Error(`governance/ is invalid: ${errors.map((e) => `${e.file} ${e.path}: ${e.message}`).join('; ')}`);
  const policy = compilePolicy(bundle);
  const parsed = cedar.preparsePolicySet('example', { staticPolicies: Object.fromEntries(CEDAR_RULES.map((r) => [r.id, r.text])) });
  if (parsed.type !== 'success') throw new Error(parsed.errors.map((e) => e.message).join('; '));

  // The example's own cases that reach the rules (Cedar has no unknown tools or argument schemas).
  const cases = (bundle.tests as BundleTestCaseWithRates[]).filter((c) => policy.evaluate(c.input).reason?.code !== 'unknown_tool' && policy.evaluate(c.input).reason?.code !== 'invalid_arguments');
  const prepared = cases.map((c) => {
    const input = { ...c.input, session: { ...emptySession(), ...c.input.session, actions: { ...emptySession().actions, ...c.input.session?.actions } } };
    const rates: RateCounter = { count: (per) => c.rates?.[per] ?? 0 };
    return { input, rates, cedar: cedarCall(policy, input, c.rates ?? {}) };
  });
  const disagree = prepared.filter((p) => policy.evaluate(p.input, p.rates).decision !== cedarOutcome(cedar.statefulIsAuthorized(p.cedar)));
  const calls = 50_000;
  const ours = measure(calls, (i) => policy.evaluate(prepared[i % prepared.length].input, prepared[i % prepared.length].rates));
  const theirs = measure(calls, (i) => cedarOutcome(cedar.statefulIsAuthorized(prepared[i % prepared.length].cedar)));
  console.log(`\nexample policy (${bundle.rules.length} rules, ${prepared.length} calls from tests.yaml; Cedar ${cedar.getCedarVersion()}, policies preparsed)`);
  console.log(`  outcomes agree on ${prepared.length - disagree.length}/${prepared.length} calls`);
  console.log('  engine                 p50 µs   p99 µs');
  console.log(`  compiled SCIM policy ${fmt(ours.p50)} ${fmt(ours.p99)}`);
  console.log(`  Cedar (wasm)         ${fmt(theirs.p50)} ${fmt(theirs.p99)}`);
  console.log(`  Cedar / ours: p50 ${(theirs.p50 / ours.p50).toFixed(1)}x, p99 ${(theirs.p99 / ours.p99).toFixed(1)}x`);
}

export async function benchPolicy(): Promise<void> {
  console.log('policy evaluation (pure; per call, timer included)');
  console.log('   rules   tools    apps   p50 µs   p99 µs');
  for (const n of [10, 100, 1_000, 10_000]) {
    const bundle = generatedBundle(n);
    const policy = compilePolicy(bundle);
    const calls = generatedCalls(bundle, 2_000);
    const rates: RateCounter = { count: (_per, windowSeconds) => windowSeconds };
    const { p50, p99 } = measure(100_000, (i) => policy.evaluate(calls[i % calls.length], rates));
    console.log(`${String(n).padStart(8)}${String(bundle.tools.length).padStart(8)}${String(bundle.apps.length).padStart(8)} ${fmt(p50)} ${fmt(p99)}`);
  }
  cedarSideBySide();
}

if (require.main === module) exitWhenDone(benchPolicy());
