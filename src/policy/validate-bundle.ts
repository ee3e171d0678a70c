// What makes a governance bundle valid: its shape (zod), every rule condition parsing and naming
// known attributes, every reference (app, tool, route, entitlement, rule) existing, ids unique.
// Errors name the file and the path inside it, e.g. `rules.yaml` `rules[3].when`.
import { z } from 'zod';
import { ACTION_CLASSES, OUTCOME_PRECEDENCE, type GovernanceBundle } from './bundle';
import { attributePaths, comparisons, instant, parseFilter, pathSegments, type Filter } from './filter';
import { ArgumentSchemas, type ArgumentsValidator } from './tool-arguments';

export interface BundleError {
  file: string;
  path: string;
  message: string;
}

export class BundleInvalidError extends Error {
  constructor(readonly errors: BundleError[]) {
    super(`The governance bundle is invalid:\n${errors.map((e) => `  ${e.file} ${e.path}: ${e.message}`).join('\n')}`);
    this.name = 'BundleInvalidError';
  }
}

export type BundleSection = keyof GovernanceBundle;
export const BUNDLE_SECTIONS: readonly BundleSection[] = ['apps', 'tools', 'routes', 'rules', 'tests'];

/** Which file each section came from; `<section>.yaml` unless told. */
export type BundleFiles = Partial<Record<BundleSection, string>>;

/** The roots of the evaluation document a rule condition may read. */
export const DOCUMENT_ROOTS = ['user', 'agent', 'app', 'tool', 'action', 'args', 'session', 'time', 'task'] as const;

const id = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, 'must be letters, digits, ".", "_" or "-", starting with a letter or digit');
const text = z.string().min(1);
const count = z.number().int().min(0);
const APPROVER_REF = /^(delegator\.manager|app\.owner|group:\S+|user:\S+)$/;

const appSchema = z.strictObject({
  id,
  name: text,
  category: text,
  riskLevel: z.enum(['low', 'medium', 'high', 'critical']),
  dataClassification: text,
  owner: text,
  connector: z.strictObject({ type: z.enum(['scim', 'credential', 'none']), secretRef: text.optional() }),
  entitlements: z.array(z.strictObject({ id, name: text, group: text.optional() })),
  approvalRoute: id.optional(),
});

const toolSchema = z.strictObject({
  id,
  app: id,
  action: z.enum(ACTION_CLASSES),
  description: text,
  arguments: z.record(z.string(), z.unknown()),
  entitlement: id.optional(),
});

const routeSchema = z.strictObject({
  id,
  description: text.optional(),
  steps: z
    .array(
      z.strictObject({
        approvers: z.array(z.string().regex(APPROVER_REF, 'must be delegator.manager, app.owner, group:<id> or user:<id>')).min(1),
        timeoutSeconds: z.number().int().positive(),
      }),
    )
    .min(1),
});

const THROTTLE_SCOPES = ['person', 'agent', 'task', 'tool', 'app'] as const;

const ruleSchema = z.strictObject({
  id,
  description: text.optional(),
  when: text,
  then: z.enum(OUTCOME_PRECEDENCE),
  mode: z.enum(['enforce', 'shadow']).optional(),
  route: id.optional(),
  limit: z.strictObject({ max: z.number().int().positive(), windowSeconds: z.number().int().positive(), per: z.enum(THROTTLE_SCOPES) }).optional(),
  reason: z.strictObject({ code: z.string().regex(/^[a-z][a-z0-9_]*$/, 'must be snake_case'), message: text }).optional(),
});

const testSchema = z.strictObject({
  note: text,
  input: z.strictObject({
    user: z.looseObject({ id: text, active: z.boolean() }),
    agent: z.looseObject({ id: text }),
    toolId: text,
    args: z.record(z.string(), z.unknown()).optional(),
    // Partial in test cases: the runner fills the rest from an empty session.
    session: z
      .strictObject({
        calls: count.optional(),
        actions: z.strictObject(Object.fromEntries(ACTION_CLASSES.map((a) => [a, count.optional()]))).optional(),
        tools: z.record(z.string(), count).optional(),
        apps: z.record(z.string(), count).optional(),
        dataClassificationsRead: z.array(text).optional(),
      })
      .optional(),
    taskId: text.optional(),
    time: z.string().refine((s) => instant(s) !== undefined, 'must be an ISO-8601 date-time'),
  }),
  /** Calls already made in the throttle window, per scope (what a RateCounter would answer). */
  rates: z.strictObject(Object.fromEntries(THROTTLE_SCOPES.map((s) => [s, count.optional()]))).optional(),
  want: z.strictObject({ decision: z.enum(OUTCOME_PRECEDENCE), rule: id.optional(), reasonCode: text.optional() }),
});

const SCHEMAS: Record<BundleSection, z.ZodType> = { apps: appSchema, tools: toolSchema, routes: routeSchema, rules: ruleSchema, tests: testSchema };

/** What validation produced besides errors, so compiling does not parse or compile twice. */
export interface BundleInspection {
  errors: BundleError[];
  /** Parsed `when` of each rule, by index (undefined where it does not parse). */
  filters: (Filter | undefined)[];
  argumentValidators: Map<string, ArgumentsValidator>;
  argumentSchemas: ArgumentSchemas;
}

export function validateBundle(bundle: unknown, files?: BundleFiles): BundleError[] {
  return inspectBundle(bundle, files).errors;
}

export function inspectBundle(bundle: unknown, files: BundleFiles = {}): BundleInspection {
  const errors: BundleError[] = [];
  const fileOf = (section: BundleSection) => files[section] ?? `${section}.yaml`;
  const fail = (section: BundleSection, path: string, message: string) => errors.push({ file: fileOf(section), path, message });
  const inspection: BundleInspection = { errors, filters: [], argumentValidators: new Map(), argumentSchemas: new ArgumentSchemas() };

  if (typeof bundle !== 'object' || bundle === null || Array.isArray(bundle)) {
    errors.push({ file: '', path: '', message: 'a bundle must be an object with apps, tools, routes, rules and tests' });
    return inspection;
  }
  // Elements that pass their schema, by section: the checks below look only at those.
  const valid = {} as { [S in BundleSection]: Map<number, GovernanceBundle[S][number]> };
  for (const section of BUNDLE_SECTIONS) {
    valid[section] = new Map();
    const list: unknown = (bundle as Record<string, unknown>)[section];
    if (!Array.isArray(list)) {
      fail(section, section, 'must be a list');
      continue;
    }
    list.forEach((item, i) => {
      const parsed = SCHEMAS[section].safeParse(item, { reportInput: true });
      if (parsed.success) valid[section].set(i, item);
      else for (const issue of parsed.error.issues) fail(section, formatPath([section, i, ...issue.path]), issueMessage(issue));
    });
    const seen = new Map<string, number>();
    list.forEach((item, i) => {
      const key = section === 'tests' ? undefined : (item as { id?: unknown })?.id;
      if (typeof key !== 'string') return;
      const first = seen.get(key);
      if (first === undefined) seen.set(key, i);
      else fail(section, `${section}[${i}].id`, `duplicate id "${key}" (also ${section}[${first}])`);
    });
  }

  // References are to any element with that id, valid or not, so one mistake is reported once.
  const ids = (section: BundleSection) => new Set(listOf(bundle, section).map((x) => (x as { id?: unknown })?.id).filter((x) => typeof x === 'string'));
  const apps = new Map([...valid.apps.values()].map((a) => [a.id, a]));
  const [appIds, toolIds, routes, rules] = (['apps', 'tools', 'routes', 'rules'] as const).map(ids);

  for (const [i, app] of valid.apps) {
    const at = `apps[${i}]`;
    if (app.connector.type === 'scim' && !app.connector.secretRef) fail('apps', `${at}.connector.secretRef`, 'a scim connector needs a secretRef');
    if (app.approvalRoute && !routes.has(app.approvalRoute)) fail('apps', `${at}.approvalRoute`, `unknown route "${app.approvalRoute}"`);
    const ents = new Set<string>();
    app.entitlements.forEach((e, j) => {
      if (ents.has(e.id)) fail('apps', `${at}.entitlements[${j}].id`, `duplicate entitlement "${e.id}"`);
      ents.add(e.id);
    });
  }

  for (const [i, tool] of valid.tools) {
    const at = `tools[${i}]`;
    const app = apps.get(tool.app);
    if (!appIds.has(tool.app)) fail('tools', `${at}.app`, `unknown app "${tool.app}"`);
    else if (app && tool.entitlement && !app.entitlements.some((e) => e.id === tool.entitlement)) {
      fail('tools', `${at}.entitlement`, `app "${app.id}" has no entitlement "${tool.entitlement}"`);
    }
    try {
      inspection.argumentValidators.set(tool.id, inspection.argumentSchemas.compile(tool.arguments));
    } catch (err) {
      fail('tools', `${at}.arguments`, `not a valid JSON Schema: ${(err as Error).message}`);
    }
  }

  for (const [i, rule] of valid.rules) {
    const at = `rules[${i}]`;
    let filter: Filter | undefined;
    try {
      filter = parseFilter(rule.when);
    } catch (err) {
      fail('rules', `${at}.when`, `does not parse: ${(err as Error).message}`);
    }
    inspection.filters[i] = filter;
    if (filter) for (const message of filterProblems(filter, appIds, toolIds)) fail('rules', `${at}.when`, message);
    if (rule.then === 'escalate') {
      if (!rule.route) fail('rules', `${at}.route`, 'an escalate rule needs a route');
      else if (!routes.has(rule.route)) fail('rules', `${at}.route`, `unknown route "${rule.route}"`);
    } else if (rule.route) fail('rules', `${at}.route`, 'only escalate rules take a route');
    if (rule.then === 'throttle' && !rule.limit) fail('rules', `${at}.limit`, 'a throttle rule needs a limit');
    if (rule.then !== 'throttle' && rule.limit) fail('rules', `${at}.limit`, 'only throttle rules take a limit');
  }

  for (const [i, test] of valid.tests) {
    if (test.want.rule && !rules.has(test.want.rule)) fail('tests', `tests[${i}].want.rule`, `unknown rule "${test.want.rule}"`);
  }
  return inspection;
}

const REFERENCE_PATHS: Record<string, 'tool' | 'app' | 'action'> = { 'tool.id': 'tool', 'app.id': 'app', 'tool.app': 'app', action: 'action', 'tool.action': 'action' };

/** Conditions that parse but can never mean what their author meant: unknown roots, unknown tools, apps or action classes. */
function filterProblems(filter: Filter, apps: Set<unknown>, tools: Set<unknown>): string[] {
  const problems: string[] = [];
  for (const path of new Set(attributePaths(filter))) {
    const root = pathSegments(path)[0].toLowerCase();
    if (!(DOCUMENT_ROOTS as readonly string[]).includes(root)) problems.push(`unknown attribute "${path}": a path starts with one of ${DOCUMENT_ROOTS.join(', ')}`);
  }
  for (const c of comparisons(filter)) {
    const kind = REFERENCE_PATHS[c.attrPath.toLowerCase()];
    if (!kind || (c.op !== 'eq' && c.op !== 'ne') || typeof c.compValue !== 'string') continue;
    const v = c.compValue;
    if (kind === 'tool' && !tools.has(v)) problems.push(`unknown tool "${v}" in ${c.attrPath} ${c.op}`);
    if (kind === 'app' && !apps.has(v)) problems.push(`unknown app "${v}" in ${c.attrPath} ${c.op}`);
    if (kind === 'action' && !(ACTION_CLASSES as readonly string[]).includes(v)) {
      problems.push(`unknown action class "${v}": one of ${ACTION_CLASSES.join(', ')}`);
    }
  }
  return problems;
}

function listOf(bundle: object, section: BundleSection): unknown[] {
  const list = (bundle as Record<string, unknown>)[section];
  return Array.isArray(list) ? list : [];
}

function formatPath(path: readonly PropertyKey[]): string {
  return path.map((p, i) => (typeof p === 'number' ? `[${p}]` : i === 0 ? String(p) : `.${String(p)}`)).join('');
}

function issueMessage(issue: z.core.$ZodIssue): string {
  return issue.input === undefined && issue.code !== 'unrecognized_keys' && issue.code !== 'custom' ? 'is required' : issue.message;
}
