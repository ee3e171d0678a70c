// Decides a tool call and records it. Used on both paths: by the API for tools already in the
// task's context (from the projection, no Temporal round trip) and by the task workflow's
// activities for calls that change the context.
import { randomUUID } from 'node:crypto';
import { argsDigest } from '../audit/digest';
import { Problem } from '../http/problem';
import type { TraceStore } from '../audit/trace-store';
import type { TraceBody, TraceRecord } from '../audit/trace-types';
import type { DirectoryRepository } from '../directory/directory-repository';
import type { Decision, Outcome, PolicyAgent, PolicyUser, RateCounter, ThrottleScope } from '../policy/bundle';
import type { PolicyStore } from '../policy/policy-store';
import { horizonsOf, RateWindows, scopeKeys } from '../policy/rate-windows';
import { redactArguments } from '../policy/redact';
import type { ContextEntry, Reason, ToolCallRequest, ToolCallResult } from '../../workflows/messages';
import type { TaskRecord, TaskRepository } from '../tasks/task-repository';
import type { SessionIncrement } from '../policy/session';
import type { CredentialBroker } from '../credentials/credential-broker';
import type { SecretStore } from '../vault/secret-store';
import { credentialKey } from '../../activities/provisioning/credential-connector';
import type { ApprovalAnswer } from '../../workflows/messages';

export interface EvaluatedCall {
  decision: Outcome;
  reason?: Reason;
  retryAfterMs?: number;
  policyVersion?: string;
  rules?: Decision['rules'];
  shadowDecision?: Outcome;
  route?: string;
  appId?: string;
  actionClass?: string;
  dataClassification?: string;
  snapshot?: Record<string, unknown>;
}

/** How far a tool not yet in context is from the agent's reach. */
export type Reach = 'in-context' | 'open' | 'agent-held' | 'person-held' | 'person-lacks';

/** What the workflow needs to run a call: the decision and the path to it. */
export interface EvaluatedPlan extends EvaluatedCall {
  reach: Reach;
  /** Binds an approval to exactly this call: task, tool and canonical arguments. */
  digest: string;
  entitlementId?: string;
  needsConfirmation: boolean;
  needsApproval: boolean;
  needsProvisioning: boolean;
  /**
   * The workflow held the tool in its context, but its grant was revoked outside the workflow (a
   * mover's re-evaluation): the call was planned as one of a tool not in context, and the workflow
   * drops the tool from its context.
   */
  grantRevoked?: boolean;
}

/** Used when a person lacks access and no rule named a route. */
export const DEFAULT_ACCESS_ROUTE = 'app-owner';

/** Where people and agents are read from: the live projection (in memory, forgotten on change). */
export interface People {
  user(id: string): Promise<PolicyUser | undefined>;
  agent(id: string): Promise<PolicyAgent | undefined>;
}

/** How a commit from the in-context path differs from one of the workflow's. */
export interface CommitOptions {
  /** The live credential reference's id, as the projection knows it (else read from the database). */
  credentialRefId?: string | null;
  /** A call the workflow holds is answered `pending`, not decided again (see AppendOptions.unlessHeld). */
  unlessHeld?: boolean;
  /**
   * A gateway asked: a callId already recorded is answered with its record only if that record is
   * of this very call (see DecisionService.answer).
   */
  fromGateway?: boolean;
  /** An allow of a tool in the task's context as read: see AppendOptions.fence (StaleContext). */
  fence?: string;
}

export interface DecisionServiceDeps {
  credentials: CredentialBroker;
  secrets: SecretStore;
  policy: PolicyStore;
  people: People;
  directory: DirectoryRepository;
  tasks: TaskRepository;
  traces: TraceStore;
  rates?: RateWindows;
  now?: () => number;
}

export class DecisionService {
  private readonly rates: RateWindows;
  private readonly now: () => number;

  constructor(private readonly deps: DecisionServiceDeps) {
    this.rates = deps.rates ?? new RateWindows();
    this.now = deps.now ?? Date.now;
  }

  async evaluate(task: TaskRecord, call: ToolCallRequest): Promise<EvaluatedCall> {
    const policy = this.deps.policy.active();
    const [user, agent] = await Promise.all([this.deps.people.user(task.userId), this.deps.people.agent(task.agentId)]);
    const tool = policy.tool(call.toolId);
    const app = tool && policy.app(tool.app);
    const facts = { policyVersion: policy.version, appId: app?.id, actionClass: tool?.action, dataClassification: app?.dataClassification };
    if (!user || !user.active) return Object.assign(facts, { decision: 'deny' as const, reason: { code: 'user_inactive', message: 'The delegating person is not active.' } });
    if (!agent || agent.active === false) {
      return Object.assign(facts, { decision: 'deny' as const, reason: { code: 'agent_inactive', message: 'The agent is inactive or has no active owner.' } });
    }
    // No object spread on this path: on Node 20 every `{ ...x, more }` here was kept through two
    // scavenges and promoted, 5-10 KB a decision, which brought a full GC every ~15 s at 2,000/s,
    // and each full GC set an in-context row's p99 (measured: a spread-free copy promotes nothing).
    const keys = scopeKeys(task, call.toolId, app?.id);
    const nowMs = Date.parse(call.requestedAt);
    // The counts the throttle rules consulted, recorded so the decision can be replayed offline.
    const consulted: { per: ThrottleScope; windowSeconds: number; count: number }[] = [];
    const rates: RateCounter = {
      count: (per, windowSeconds) => {
        const count = this.rates.count(per, keys[per], windowSeconds * 1000, nowMs);
        consulted.push({ per, windowSeconds, count });
        return count;
      },
    };
    const d = policy.evaluate({ user, agent, toolId: call.toolId, args: call.arguments, session: task.session, taskId: task.taskId, time: call.requestedAt }, rates);
    const throttleRule = d.decision === 'throttle' ? policy.bundle.rules.find((r) => r.id === d.rules.find((m) => m.outcome === 'throttle' && m.mode === 'enforce')?.id) : undefined;
    const retryAfterMs = throttleRule?.limit
      ? Math.max(1, this.rates.retryAfterMs(throttleRule.limit.per, keys[throttleRule.limit.per], throttleRule.limit.windowSeconds * 1000, throttleRule.limit.max, nowMs))
      : d.retryAfterMs;
    return Object.assign(facts, {
      decision: d.decision,
      reason: d.reason,
      retryAfterMs,
      rules: d.rules,
      shadowDecision: d.shadowDecision,
      route: d.route,
      // Everything the policy read, so an auditor can replay the decision with the pinned version.
      snapshot: {
        user,
        agent,
        app: app && { id: app.id, riskLevel: app.riskLevel, dataClassification: app.dataClassification, category: app.category, owner: app.owner },
        session: task.session,
        args: tool ? redactArguments(call.arguments ?? {}, tool.arguments) : undefined,
        rates: consulted,
      },
    });
  }

  /** The decision plus the path: policy only, person confirms, or approval chain and provisioning. */
  async plan(task: TaskRecord, call: ToolCallRequest, inContext: boolean): Promise<EvaluatedPlan> {
    const evaluated = await this.evaluate(task, call);
    const digest = heldCallDigest(task.taskId, call);
    const base = Object.assign({}, evaluated, { digest, reach: 'in-context' as Reach, needsConfirmation: false, needsApproval: evaluated.decision === 'escalate', needsProvisioning: false });
    if (evaluated.decision === 'deny' || evaluated.decision === 'throttle' || inContext) return base;
    const policy = this.deps.policy.active();
    const tool = policy.tool(call.toolId)!;
    const app = policy.app(tool.app)!;
    const entitlementId = policy.entitlement(tool.id);
    const reach = await this.reach(task, app.id, app.connector.type, policy.sameAccess(tool.id), entitlementId);
    // An app whose access is a credential gets a fresh per-task secret on every new grant.
    const minted = app.connector.type === 'credential';
    return Object.assign(base, {
      reach,
      entitlementId,
      route: base.route ?? (reach === 'person-lacks' ? (app.approvalRoute ?? DEFAULT_ACCESS_ROUTE) : undefined),
      needsConfirmation: reach === 'person-held',
      needsApproval: base.needsApproval || reach === 'person-lacks',
      needsProvisioning: reach === 'person-lacks' || minted,
    });
  }

  /** `sameAccess`: the app's tools that need the same entitlement as this one. */
  private async reach(task: TaskRecord, appId: string, connector: string, sameAccess: string[], entitlementId?: string): Promise<Reach> {
    if (connector === 'none' || !entitlementId) return 'open';
    if (await this.deps.tasks.agentHolds(task.agentId, task.userId, appId, sameAccess)) return 'agent-held';
    if (await this.deps.directory.hasAccess(task.userId, appId, entitlementId)) return 'person-held';
    return 'person-lacks';
  }

  /**
   * Appends the decision trace, and with it (one transaction) the grant row and the session
   * counters. The same callId twice returns the first decision. `task.session` is brought up to
   * date (on the in-context path that is the projection's own record).
   */
  async commit(
    task: TaskRecord,
    call: ToolCallRequest,
    outcome: EvaluatedCall,
    grant?: ContextEntry,
    answers: ApprovalAnswer[] = [],
    opts: CommitOptions = {},
  ): Promise<ToolCallResult> {
    const allowed = outcome.decision === 'allow';
    const body: TraceBody = {
      taskId: task.taskId,
      callId: call.callId,
      userId: task.userId,
      agentId: task.agentId,
      toolId: call.toolId,
      appId: outcome.appId,
      actionClass: outcome.actionClass,
      decision: outcome.decision,
      reasonCode: outcome.reason?.code,
      reasonMessage: outcome.reason?.message,
      retryAfterMs: outcome.retryAfterMs,
      policyVersion: outcome.policyVersion,
      rules: outcome.rules,
      shadowDecision: outcome.shadowDecision,
      argsDigest: argsDigest(call.arguments),
      grantedVia: grant?.via,
      approvals: answers.length
        ? answers.map((a) => stripUndefined({ approvalId: a.approvalId, personId: a.personId, choice: a.choice, comment: a.comment, at: a.at, jws: a.jws }))
        : undefined,
      snapshot: outcome.snapshot,
    };
    // Read before the transaction: PGlite has one connection, so a read outside it would wait forever.
    const secretKey = grant && allowed ? await this.secretKeyFor(task.taskId, call.toolId) : undefined;
    if (allowed) {
      body.credentialRefId = opts.credentialRefId !== undefined ? (opts.credentialRefId ?? undefined) : await this.deps.credentials.liveRefId(task.taskId, call.toolId);
    }
    // The reference's id goes into the hashed body (chosen now: the hash is computed before `within` runs);
    // the reference itself never does.
    if (secretKey) body.credentialRefId ??= this.deps.credentials.newRefId();
    const refId = body.credentialRefId as string | undefined;
    const session: SessionIncrement | undefined =
      allowed && outcome.appId && outcome.actionClass
        ? {
            taskId: task.taskId,
            call: { toolId: call.toolId, appId: outcome.appId, action: outcome.actionClass as never, dataClassification: outcome.dataClassification },
          }
        : undefined;
    const traceId = randomUUID();
    const record = await this.deps.traces.append(
      { kind: 'decision', body: stripUndefined(body), occurredAt: call.requestedAt, traceId },
      {
        unlessHeld: opts.unlessHeld,
        fence: allowed ? opts.fence : undefined,
        within: grant
          ? async (tx) => {
              await this.deps.tasks.insertGrant(tx, Object.assign({}, grant, { taskId: task.taskId }));
              if (secretKey) {
                await this.deps.credentials.mint(tx, {
                  taskId: task.taskId,
                  agentId: task.agentId,
                  toolId: call.toolId,
                  appId: grant.appId,
                  secretKey,
                  expiresAt: task.expiresAt,
                  refId,
                });
              }
            }
          : undefined,
        session,
      },
    );
    if (record.traceId === traceId) {
      if (session?.after) task.session = session.after;
      if (allowed) this.rates.record(scopeKeys(task, call.toolId, outcome.appId), Date.parse(call.requestedAt), horizonsOf(this.deps.policy.active().bundle));
      return this.result(record);
    }
    return opts.fromGateway ? this.answer(record, call) : this.result(record);
  }

  /**
   * A gateway's answer from the recorded decision (or escalation) of its callId. A callId names one
   * call: a request that reuses it for another tool or other arguments is refused (409), never
   * given the other call's decision, which its gateway would take for its own.
   */
  answer(record: TraceRecord, call: Pick<ToolCallRequest, 'callId' | 'toolId' | 'arguments'>): ToolCallResult {
    const b = record.body;
    const empty = !call.arguments || Object.keys(call.arguments).length === 0;
    // Recorded as DecisionService.commit and plan digest them; no arguments and {} alike.
    const digests =
      record.kind === 'escalation'
        ? [heldCallDigest(b.taskId!, call)]
        : empty
          ? [argsDigest(undefined), argsDigest({})]
          : [argsDigest(call.arguments)];
    if (b.toolId !== call.toolId || !digests.includes(b.argsDigest!)) {
      const other = b.toolId !== call.toolId ? `for tool ${b.toolId}` : 'with other arguments';
      throw new Problem(409, 'call_conflict', `Call ${call.callId} was recorded ${other}: a new call needs a new callId.`);
    }
    return this.result(record);
  }

  /** The gateway's answer from a recorded decision (or escalation: `pending`). */
  result(record: TraceRecord): ToolCallResult {
    const b = record.body;
    const decision = record.kind === 'escalation' ? 'pending' : (b.decision as ToolCallResult['decision']);
    const refId = b.credentialRefId as string | undefined;
    return stripUndefined({
      callId: b.callId!,
      decision,
      traceId: record.traceId,
      policyVersion: b.policyVersion,
      reason: decision === 'allow' || decision === 'pending' ? undefined : b.reasonCode ? { code: b.reasonCode, message: b.reasonMessage ?? '' } : undefined,
      retryAfterMs: b.retryAfterMs as number | undefined,
      credentialRef: refId ? this.deps.credentials.refFor(refId) : undefined,
      approvalId: b.approvalId as string | undefined,
    });
  }

  /** Where a granted tool's credential lives: a per-task secret, or the app's agent credential. */
  private async secretKeyFor(taskId: string, toolId: string): Promise<string | undefined> {
    const policy = this.deps.policy.active();
    const tool = policy.tool(toolId);
    const app = tool && policy.app(tool.app);
    if (!app) return undefined;
    if (app.connector.type === 'credential') return credentialKey(taskId, app.id, policy.entitlement(toolId));
    const shared = `apps/${app.id}/agent-credential`;
    return (await this.deps.secrets.get(shared)) ? shared : undefined;
  }
}

/** The digest an escalation records: of the task, the tool and the arguments. */
function heldCallDigest(taskId: string, call: Pick<ToolCallRequest, 'toolId' | 'arguments'>): string {
  return argsDigest({ taskId, toolId: call.toolId, arguments: call.arguments ?? {} });
}

/** A copy without the undefined fields, in the same order (twice per decision: a loop, not entries and their pairs). */
export function stripUndefined<T extends object>(o: T): T {
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(o)) {
    const value = (o as Record<string, unknown>)[key];
    if (value !== undefined) out[key] = value;
  }
  return out as T;
}
