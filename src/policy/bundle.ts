// The governance bundle: the shape of what lives in version control (governance/*.yaml).
// Plain types only, shared by the evaluator, the workflows, Slack routing and provisioning.

export type ActionClass = 'Read' | 'Write' | 'Destructive' | 'External';
export const ACTION_CLASSES: readonly ActionClass[] = ['Read', 'Write', 'Destructive', 'External'];

export type Outcome = 'allow' | 'deny' | 'escalate' | 'throttle';
/** Most restrictive first: deny > escalate > throttle > allow. */
export const OUTCOME_PRECEDENCE: readonly Outcome[] = ['deny', 'escalate', 'throttle', 'allow'];

export type RiskLevel = 'low' | 'medium' | 'high' | 'critical';

export interface Entitlement {
  id: string;
  name: string;
  /** Connector-specific target, e.g. the SCIM group displayName in the target app. */
  group?: string;
}

export interface ConnectorRef {
  /** `scim`: a SCIM 2.0 target app; `credential`: a scoped secret minted per task; `none`: nothing to provision. */
  type: 'scim' | 'credential' | 'none';
  /** Key in the secret store holding connection details (base URL, token); never the secret itself. */
  secretRef?: string;
}

export interface App {
  id: string;
  name: string;
  category: string;
  riskLevel: RiskLevel;
  dataClassification: string;
  /** Person id of the app's owner (an approver route target). */
  owner: string;
  connector: ConnectorRef;
  entitlements: Entitlement[];
  /** Approver route for a person who lacks access (just-in-time provisioning); default `app-owner`. */
  approvalRoute?: string;
}

export interface Tool {
  id: string;
  app: string;
  action: ActionClass;
  description: string;
  /** JSON Schema of the tool's arguments; `x-sensitive: true` on a property redacts it on approval cards. */
  arguments: Record<string, unknown>;
  /** The app entitlement a person needs to use this tool (defaults to the app's first). */
  entitlement?: string;
}

/**
 * Who approves, resolved against the directory at escalation time:
 * `delegator.manager`, `app.owner`, `group:<groupId>`, `user:<userId>`.
 */
export type ApproverRef = string;

export interface ApproverRouteStep {
  approvers: ApproverRef[];
  timeoutSeconds: number;
}

export interface ApproverRoute {
  id: string;
  description?: string;
  steps: ApproverRouteStep[];
}

export type ThrottleScope = 'person' | 'agent' | 'task' | 'tool' | 'app';

export interface Rule {
  id: string;
  description?: string;
  /** SCIM filter (RFC 7644 §3.4.2.2) over the evaluation document. */
  when: string;
  then: Outcome;
  mode?: 'enforce' | 'shadow';
  /** escalate: the approver route id. */
  route?: string;
  /** throttle: at most `max` calls per `windowSeconds` for the scope. */
  limit?: { max: number; windowSeconds: number; per: ThrottleScope };
  /** deny (and optionally others): the reason the agent gets. */
  reason?: { code: string; message: string };
}

export interface BundleTestCase {
  note: string;
  input: EvaluationInput;
  want: { decision: Outcome; rule?: string; reasonCode?: string };
}

export interface GovernanceBundle {
  apps: App[];
  tools: Tool[];
  routes: ApproverRoute[];
  rules: Rule[];
  tests: BundleTestCase[];
}

/** A person as the policy sees them (from the directory / SCIM). */
export interface PolicyUser {
  id: string;
  userName?: string;
  displayName?: string;
  userType?: string;
  title?: string;
  department?: string;
  manager?: string;
  active: boolean;
  emails?: { value: string; type?: string; primary?: boolean }[];
  groups?: string[];
  [attr: string]: unknown;
}

export interface PolicyAgent {
  id: string;
  name?: string;
  owner?: string;
  active?: boolean;
  [attr: string]: unknown;
}

/** What the task has done so far; counts are of allowed calls. */
export interface SessionState {
  calls: number;
  actions: Record<ActionClass, number>;
  tools: Record<string, number>;
  apps: Record<string, number>;
  dataClassificationsRead: string[];
}

/** A call in context: what the caller knows before evaluation. */
export interface EvaluationInput {
  user: PolicyUser;
  agent: PolicyAgent;
  toolId: string;
  args?: Record<string, unknown>;
  session?: SessionState;
  taskId?: string;
  /** ISO-8601; passed in (never read from a clock) so evaluation stays deterministic. */
  time: string;
}

/** Counts of earlier allowed calls, prepared by the caller, for throttle rules. */
export interface RateCounter {
  /** Calls in the last `windowSeconds` for the scope's key of the current call (person id, agent id, task id, tool id or app id). */
  count(per: ThrottleScope, windowSeconds: number): number;
}

export interface RuleMatch {
  id: string;
  mode: 'enforce' | 'shadow';
  outcome: Outcome;
}

export interface Decision {
  decision: Outcome;
  reason?: { code: string; message: string };
  /** Rules that matched, enforcing and shadow. */
  rules: RuleMatch[];
  /** The outcome shadow rules would have produced, had they enforced. */
  shadowDecision?: Outcome;
  policyVersion: string;
  route?: string;
  retryAfterMs?: number;
}
