// The policy engine: a validated bundle compiled into closures, and the decision of one call.
// Deterministic and side-effect free (no clock, no I/O), so it can run inside a workflow and
// every decision can be replayed for an audit. Rules are indexed by the tool, app or action
// class their condition requires, so a call only checks the rules that could match it.
import { argsDigest } from '../audit/digest';
import type { App, ApproverRoute, Decision, EvaluationInput, GovernanceBundle, Outcome, RateCounter, Rule, RuleMatch, Tool } from './bundle';
import { attributePaths, compileFilter, indexKey, pathSegments, whyNot, type Filter, type IndexAttribute, type Predicate } from './filter';
import { emptySession } from './session';
import type { ArgumentsValidator, ArgumentSchemas } from './tool-arguments';
import { BundleInvalidError, inspectBundle } from './validate-bundle';

export { BundleInvalidError, validateBundle, type BundleError } from './validate-bundle';

export interface RuleExplanation {
  id: string;
  matched: boolean;
  mode: 'enforce' | 'shadow';
  outcome: Outcome;
  why: string;
}

export interface EvaluateOptions {
  /**
   * The arguments were checked when the call was first decided and are not available now
   * (a backtest over Decision Traces, which keep only their digest): skip the schema check.
   */
  argumentsChecked?: boolean;
}

export interface CompiledPolicy {
  /** `sha256:<hex>` of the canonical JSON of the bundle: the same content gives the same version, whatever its key order. */
  readonly version: string;
  readonly bundle: GovernanceBundle;
  tool(id: string): Tool | undefined;
  app(id: string): App | undefined;
  /** The entitlement of its app a tool needs: its own, else the app's first (none for an app without any). */
  entitlement(toolId: string): string | undefined;
  /** The tools of the same app that need the same entitlement as this one (itself included). */
  sameAccess(toolId: string): string[];
  route(id: string): ApproverRoute | undefined;
  evaluate(input: EvaluationInput, rates?: RateCounter, options?: EvaluateOptions): Decision;
  explain(input: EvaluationInput, rates?: RateCounter): Decision & { explanation: RuleExplanation[] };
  /** Whether any rule that may apply to this tool reads `args` (such decisions cannot be replayed without the arguments). */
  readsArguments(toolId: string): boolean;
}

interface CompiledRule {
  rule: Rule;
  order: number;
  mode: 'enforce' | 'shadow';
  filter: Filter;
  /** Where the rule applies: its tool, app or action class (from its condition), or every call. */
  index?: { attr: IndexAttribute; values: string[] };
  /** The condition less what the index already guarantees, for the calls the index picks. */
  test: Predicate;
  readsArgs: boolean;
}

const ALWAYS: Predicate = () => true;

/** The rules a call to one tool must check: those indexed to it, then (separately) the unindexed ones. */
interface ToolEntry {
  tool: Tool;
  app: App;
  validate: ArgumentsValidator;
  indexed: CompiledRule[];
  readsArgs: boolean;
  entitlement?: string;
}

const NO_RATES: RateCounter = { count: () => 0 };

/** The content hash that identifies a bundle version (canonical JSON, so key order does not matter). */
export function bundleVersion(bundle: GovernanceBundle): string {
  return argsDigest(bundle);
}

export function compilePolicy(bundle: GovernanceBundle): CompiledPolicy {
  const inspection = inspectBundle(bundle);
  if (inspection.errors.length) throw new BundleInvalidError(inspection.errors);
  return new Policy(bundle, inspection.filters as Filter[], inspection.argumentValidators, inspection.argumentSchemas);
}

class Policy implements CompiledPolicy {
  readonly version: string;
  private readonly apps: Map<string, App>;
  private readonly routes: Map<string, ApproverRoute>;
  private readonly entries = new Map<string, ToolEntry>();
  private readonly compiled: CompiledRule[];
  private readonly unindexed: CompiledRule[];
  private readonly emptySession = Object.freeze(emptySession());

  constructor(
    readonly bundle: GovernanceBundle,
    filters: Filter[],
    validators: Map<string, ArgumentsValidator>,
    private readonly schemas: ArgumentSchemas,
  ) {
    this.version = bundleVersion(bundle);
    this.apps = new Map(bundle.apps.map((a) => [a.id, a]));
    this.routes = new Map(bundle.routes.map((r) => [r.id, r]));
    this.compiled = bundle.rules.map((rule, order) => {
      const filter = filters[order];
      const key = indexKey(filter);
      return {
        rule,
        order,
        mode: rule.mode ?? 'enforce',
        filter,
        index: key && { attr: key.attr, values: key.values },
        test: key ? (key.rest ? compileFilter(key.rest) : ALWAYS) : compileFilter(filter),
        readsArgs: attributePaths(filter).some((p) => pathSegments(p)[0].toLowerCase() === 'args'),
      };
    });

    const byAttr = { tool: new Map<string, CompiledRule[]>(), app: new Map<string, CompiledRule[]>(), action: new Map<string, CompiledRule[]>() };
    this.unindexed = [];
    for (const r of this.compiled) {
      if (!r.index) this.unindexed.push(r);
      else {
        const byValue = byAttr[r.index.attr];
        for (const v of r.index.values) {
          const list = byValue.get(v);
          if (list) list.push(r);
          else byValue.set(v, [r]);
        }
      }
    }
    const unindexedReadArgs = this.unindexed.some((r) => r.readsArgs);
    for (const tool of bundle.tools) {
      const candidates = new Set([...(byAttr.tool.get(tool.id) ?? []), ...(byAttr.app.get(tool.app) ?? []), ...(byAttr.action.get(tool.action) ?? [])]);
      const indexed = [...candidates].sort((a, b) => a.order - b.order);
      const app = this.apps.get(tool.app)!;
      this.entries.set(tool.id, {
        tool,
        app,
        entitlement: tool.entitlement ?? app.entitlements[0]?.id,
        validate: validators.get(tool.id)!,
        indexed,
        readsArgs: unindexedReadArgs || indexed.some((r) => r.readsArgs),
      });
    }
  }

  tool(id: string): Tool | undefined {
    return this.entries.get(id)?.tool;
  }

  app(id: string): App | undefined {
    return this.apps.get(id);
  }

  route(id: string): ApproverRoute | undefined {
    return this.routes.get(id);
  }

  entitlement(toolId: string): string | undefined {
    return this.entries.get(toolId)?.entitlement;
  }

  sameAccess(toolId: string): string[] {
    const entry = this.entries.get(toolId);
    if (!entry) return [];
    return [...this.entries.values()].filter((e) => e.app.id === entry.app.id && e.entitlement === entry.entitlement).map((e) => e.tool.id);
  }

  readsArguments(toolId: string): boolean {
    return this.entries.get(toolId)?.readsArgs ?? false;
  }

  evaluate(input: EvaluationInput, rates: RateCounter = NO_RATES, options: EvaluateOptions = {}): Decision {
    const entry = this.entries.get(input.toolId);
    if (!entry) return deny(this.version, 'unknown_tool', `No tool "${input.toolId}" is governed by this policy.`);
    const invalid = options.argumentsChecked ? undefined : this.invalidArguments(entry, input.args);
    if (invalid) return deny(this.version, 'invalid_arguments', invalid);
    const doc = this.document(input, entry);
    const matched: CompiledRule[] = [];
    collect(entry.indexed, doc, rates, matched);
    const fromIndex = matched.length;
    collect(this.unindexed, doc, rates, matched);
    // Both lists are in bundle order; matches from both are merged so `rules` stays in bundle order.
    if (fromIndex > 0 && matched.length > fromIndex) matched.sort((a, b) => a.order - b.order);
    return this.decide(matched);
  }

  explain(input: EvaluationInput, rates: RateCounter = NO_RATES): Decision & { explanation: RuleExplanation[] } {
    const decision = this.evaluate(input, rates);
    const entry = this.entries.get(input.toolId);
    const doc = entry && !this.invalidArguments(entry, input.args) ? this.document(input, entry) : undefined;
    const matched = new Set(decision.rules.map((m) => m.id));
    const explanation = this.compiled.map(({ rule, mode, filter }): RuleExplanation => {
      const base = { id: rule.id, matched: matched.has(rule.id), mode, outcome: rule.then };
      if (!doc) return { ...base, why: `not evaluated: ${decision.reason?.code}` };
      if (!compileFilter(filter)(doc)) return { ...base, why: whyNot(filter, doc) };
      if (!rule.limit) return { ...base, why: 'when holds' };
      const { max, windowSeconds, per } = rule.limit;
      const n = rates.count(per, windowSeconds);
      return { ...base, why: `when holds; ${n} call(s) in ${windowSeconds}s per ${per} ${n >= max ? '>=' : '<'} limit ${max}` };
    });
    return { ...decision, explanation };
  }

  /** What is wrong with the arguments under the tool's schema (checked before any rule), if anything. */
  private invalidArguments(entry: ToolEntry, args: Record<string, unknown> | undefined): string | undefined {
    if (entry.validate(args ?? {})) return undefined;
    return `Invalid arguments for ${entry.tool.id}: ${this.schemas.describe(entry.validate.errors)}.`;
  }

  private document(input: EvaluationInput, entry: ToolEntry) {
    return {
      user: input.user,
      agent: input.agent,
      app: entry.app,
      tool: entry.tool,
      action: entry.tool.action,
      args: input.args ?? {},
      session: input.session ?? this.emptySession,
      time: input.time,
      task: { id: input.taskId },
    };
  }

  private decide(matched: CompiledRule[]): Decision {
    const rules: RuleMatch[] = matched.map((m) => ({ id: m.rule.id, mode: m.mode, outcome: m.rule.then }));
    const { decision, by } = pickOutcome(rules, false);
    const d: Decision = { decision, rules, policyVersion: this.version };
    const rule = by && matched[rules.indexOf(by)].rule;
    if (decision === 'deny') d.reason = rule ? (rule.reason ?? { code: 'denied_by_rule', message: rule.description ?? `Denied by rule ${rule.id}.` }) : NO_RULE_ALLOWS;
    if (decision === 'escalate') {
      d.route = rule!.route;
      d.reason = rule!.reason ?? { code: 'approval_required', message: rule!.description ?? `Rule ${rule!.id} asks for approval.` };
    }
    if (decision === 'throttle') {
      const { max, windowSeconds, per } = rule!.limit!;
      d.reason = rule!.reason ?? { code: 'rate_limited', message: `At most ${max} call(s) per ${windowSeconds}s per ${per}.` };
    }
    if (rules.some((m) => m.mode === 'shadow')) d.shadowDecision = pickOutcome(rules, true).decision;
    return d;
  }
}

const NO_RULE_ALLOWS = { code: 'no_rule_allows', message: 'No rule allows this call.' };

function deny(policyVersion: string, code: string, message: string): Decision {
  return { decision: 'deny', reason: { code, message }, rules: [], policyVersion };
}

function collect(rules: CompiledRule[], doc: unknown, rates: RateCounter, into: CompiledRule[]): void {
  for (const r of rules) {
    if (!r.test(doc)) continue;
    const limit = r.rule.limit;
    if (limit && rates.count(limit.per, limit.windowSeconds) < limit.max) continue;
    into.push(r);
  }
}

/**
 * The outcome of a set of matched rules (in bundle order): any deny wins; without an allow the
 * call is denied (`by` undefined); then escalate, throttle, allow. `by` is the first rule with
 * that outcome. With `withShadow`, shadow rules count as if they enforced.
 */
export function pickOutcome<M extends Pick<RuleMatch, 'mode' | 'outcome'>>(matches: readonly M[], withShadow: boolean): { decision: Outcome; by?: M } {
  let deny: M | undefined, escalate: M | undefined, throttle: M | undefined, allow: M | undefined;
  for (const m of matches) {
    if (m.mode === 'shadow' && !withShadow) continue;
    if (m.outcome === 'deny') deny ??= m;
    else if (m.outcome === 'escalate') escalate ??= m;
    else if (m.outcome === 'throttle') throttle ??= m;
    else allow ??= m;
  }
  if (deny) return { decision: 'deny', by: deny };
  if (!allow) return { decision: 'deny' };
  if (escalate) return { decision: 'escalate', by: escalate };
  if (throttle) return { decision: 'throttle', by: throttle };
  return { decision: 'allow', by: allow };
}

/** The enforcing rule that decided (undefined for a default deny and for refusals before any rule). */
export function decidedBy(d: Pick<Decision, 'decision' | 'rules'>): string | undefined {
  return d.rules.find((m) => m.mode === 'enforce' && m.outcome === d.decision)?.id;
}
