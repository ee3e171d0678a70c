// Tasks for gateways: start a task workflow, decide tool calls, read and end the context.
import { randomUUID } from 'node:crypto';
import { WorkflowNotFoundError, WorkflowUpdateFailedError, type Client } from '@temporalio/client';
import type { Services } from '../services';
import { Problem } from '../http/problem';
import { updateWhenReady } from '../temporal/update-when-ready';
import { taskWorkflow } from '../../workflows/task-workflow';
import {
  AGENT_ID,
  DELEGATOR_ID,
  endTaskUpdate,
  requestToolCallUpdate,
  taskWorkflowId,
  type CollapseResult,
  type EndTaskRequest,
  type ToolCallRequest,
  type ToolCallResult,
} from '../../workflows/messages';
import type { Metrics } from '../health/metrics';
import type { TraceRecord } from '../audit/trace-types';
import { StaleContext } from '../audit/trace-store';
import type { TaskRecord } from './task-repository';

export interface StartTask {
  taskId?: string;
  userId: string;
  agentId: string;
  purpose?: string;
  ttlSeconds?: number;
}

/** The update a call goes to its workflow as: one per call, so a repeated request joins the first. */
export function toolCallUpdateId(callId: string): string {
  return `call-${callId}`;
}

export class TasksService {
  /** Calls of one task are decided one after another in this process (session counters stay exact). */
  private readonly lanes = new Map<string, Promise<unknown>>();

  constructor(
    private readonly s: Services,
    private readonly temporal: Client,
    private readonly metrics: Metrics,
  ) {}

  async start(req: StartTask): Promise<{ task: TaskRecord; created: boolean }> {
    const taskId = req.taskId ?? randomUUID();
    const existing = await this.s.tasks.get(taskId);
    if (existing) {
      if (existing.userId !== req.userId || existing.agentId !== req.agentId) {
        throw new Problem(409, 'task_conflict', `Task ${taskId} exists for another user or agent.`);
      }
      await this.ensureWorkflow(existing);
      return { task: existing, created: false };
    }
    const user = await this.s.directory.user(req.userId);
    if (!user) throw new Problem(422, 'user_unknown', `No person ${req.userId} in the directory.`);
    if (!user.active) throw new Problem(422, 'user_inactive', `Person ${req.userId} is not active.`);
    const agent = await this.s.directory.agent(req.agentId);
    if (!agent) throw new Problem(422, 'agent_unknown', `No agent ${req.agentId} in the directory.`);
    if (agent.active === false) throw new Problem(422, 'agent_inactive', `Agent ${req.agentId} is inactive or orphaned.`);
    const now = new Date();
    const ttl = req.ttlSeconds ?? this.s.config.defaultTaskTtlSeconds;
    const result = await this.s.tasks.create({
      taskId,
      tenant: this.s.config.tenant,
      userId: req.userId,
      agentId: req.agentId,
      purpose: req.purpose,
      workflowId: taskWorkflowId(taskId),
      createdAt: now.toISOString(),
      expiresAt: new Date(now.getTime() + ttl * 1000).toISOString(),
    });
    // Read into the projection while the workflow starts (this thread waits on the server then),
    // not on the path of the task's first call, which is most often a new grant.
    await Promise.all([this.ensureWorkflow(result.task), this.s.projection.task(taskId)]);
    return result;
  }

  private async ensureWorkflow(task: TaskRecord): Promise<void> {
    if (task.status !== 'active') return;
    await this.temporal.workflow.start(taskWorkflow, {
      workflowId: task.workflowId,
      taskQueue: this.s.config.temporal.taskQueue,
      workflowIdConflictPolicy: 'USE_EXISTING',
      typedSearchAttributes: [
        { key: DELEGATOR_ID, value: task.userId },
        { key: AGENT_ID, value: task.agentId },
      ],
      args: [
        {
          taskId: task.taskId,
          tenant: task.tenant,
          userId: task.userId,
          agentId: task.agentId,
          purpose: task.purpose,
          createdAt: task.createdAt,
          expiresAt: task.expiresAt,
        },
      ],
    });
  }

  async get(taskId: string) {
    const task = await this.s.tasks.get(taskId);
    if (!task) throw new Problem(404, 'task_not_found', `No task ${taskId}.`);
    const grants = await this.s.tasks.grants(taskId);
    return {
      taskId: task.taskId,
      status: task.status,
      userId: task.userId,
      agentId: task.agentId,
      purpose: task.purpose,
      createdAt: task.createdAt,
      expiresAt: task.expiresAt,
      endedAt: task.endedAt,
      context: grants
        .filter((g) => !g.revokedAt)
        .map((g) => ({ toolId: g.toolId, appId: g.appId, grantedAt: g.grantedAt, expiresAt: g.expiresAt, via: g.via })),
      revoked: grants.filter((g) => g.revokedAt).map((g) => ({ toolId: g.toolId, revokedAt: g.revokedAt, status: g.revokeStatus })),
      pending: (await this.s.approvals.pendingOfTask(taskId)).map((h) => ({
        callId: h.callId,
        toolId: h.toolId,
        approvalId: h.approvalId,
        kind: h.kind,
        since: h.createdAt,
        deadline: h.deadline,
      })),
      provisioned: (await this.s.provisioned.ofTask(taskId)).map((p) => ({
        appId: p.appId,
        entitlementId: p.entitlementId,
        status: p.revokeStatus ?? 'active',
        error: p.lastError,
      })),
    };
  }

  async toolCall(taskId: string, call: Omit<ToolCallRequest, 'requestedAt'>, waitSeconds = 0): Promise<ToolCallResult> {
    if (!(await this.s.projection.task(taskId))) throw new Problem(404, 'task_not_found', `No task ${taskId}.`);
    const started = process.hrtime.bigint();
    // Object.assign, not a spread: see DecisionService.evaluate.
    const { result, path } = await this.inLane(taskId, () => this.decide(taskId, Object.assign({}, call, { requestedAt: new Date().toISOString() })));
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    this.metrics.decisionLatency.observe({ outcome: result.decision, path }, seconds);
    this.metrics.decisions.inc({ outcome: result.decision });
    return this.waitIfPending(result, taskId, waitSeconds);
  }

  /** Holds the request while a human decides, up to `waitSeconds`; then the gateway polls. */
  private async waitIfPending(result: ToolCallResult, taskId: string, waitSeconds: number): Promise<ToolCallResult> {
    if (result.decision !== 'pending' || waitSeconds <= 0) return result;
    const deadline = Date.now() + waitSeconds * 1000;
    const traces = this.s.traces;
    // Decided in this process: woken at once; decided by another replica: the poll finds it.
    const here = traces.whenDecided(taskId, result.callId);
    let poll: NodeJS.Timeout | undefined;
    let timer: NodeJS.Timeout | undefined;
    const polled = new Promise<TraceRecord>((found) => {
      const check = () => void traces.findDecision(taskId, result.callId).then((d) => d && found(d), () => undefined);
      poll = setInterval(check, 250);
      check();
    });
    const timedOut = new Promise<undefined>((end) => (timer = setTimeout(() => end(undefined), Math.max(0, deadline - Date.now()))));
    try {
      const d = await Promise.race([here.decided, polled, timedOut]);
      return d ? this.s.decisions.result(d) : result;
    } finally {
      here.cancel();
      clearInterval(poll);
      clearTimeout(timer);
    }
  }

  async toolCallResult(taskId: string, callId: string): Promise<ToolCallResult> {
    const known = await this.s.traces.findCall(taskId, callId);
    if (!known) throw new Problem(404, 'call_not_found', `No call ${callId} in task ${taskId}.`);
    return this.s.decisions.result(known);
  }

  /**
   * A repeated callId needs no lookup first: the trace store answers it with the call's first
   * decision (or, while the workflow holds it, its escalation) instead of recording a second one.
   */
  private async decide(taskId: string, call: ToolCallRequest, stale = 0): Promise<{ result: ToolCallResult; path: 'projection' | 'workflow' }> {
    // Read under the lane: an earlier call of this task may have changed its session.
    const { task, live } = (await (stale ? this.s.projection.taskAfresh(taskId) : this.s.projection.task(taskId)))!;
    const now = Date.parse(call.requestedAt);
    if (task.status !== 'active' || Date.parse(task.expiresAt) <= now) {
      // Past its TTL the task is over even before its workflow's timer has collapsed it.
      const reason = { code: 'task_not_active', message: `The task is ${task.status === 'active' ? 'expired' : task.status}.` };
      const outcome = { decision: 'deny' as const, reason, policyVersion: this.s.policy.active().version };
      return { result: await this.s.decisions.commit(task, call, outcome, undefined, [], { unlessHeld: true, fromGateway: true }), path: 'projection' };
    }
    const entry = live.get(call.toolId);
    const inContext = entry && (!entry.grant.expiresAt || Date.parse(entry.grant.expiresAt) > now) ? entry : undefined;
    const evaluated = await this.s.decisions.evaluate(task, call);
    // Decided here from the projection: any call on a tool in context, unless it escalates, and a
    // call the policy refuses, which changes no context (an agent hammering a forbidden tool costs
    // the workflow nothing and does not grow its history). The rest changes the context: workflow.
    if (evaluated.decision === 'deny' || evaluated.decision === 'throttle' || (inContext && evaluated.decision !== 'escalate')) {
      // The context was read before the batch that records this: an allow is fenced by its grant,
      // and decided again from a fresh read if a revocation, the task's end or the person's
      // offboarding committed meanwhile.
      const opts = { credentialRefId: inContext?.credentialRefId ?? null, unlessHeld: true, fromGateway: true, fence: inContext ? call.toolId : undefined };
      try {
        return { result: await this.s.decisions.commit(task, call, evaluated, undefined, [], opts), path: 'projection' };
      } catch (err) {
        if (!(err instanceof StaleContext)) throw err;
        if (stale < 3) return this.decide(taskId, call, stale + 1);
        throw new Problem(503, 'context_changing', `The task's context changed while call ${call.callId} was being decided, ${stale + 1} times; nothing was recorded: retry the call.`, { retryAfterMs: 100 });
      }
    }
    return { result: await this.askWorkflow(task, call), path: 'workflow' };
  }

  private async askWorkflow(task: TaskRecord, call: ToolCallRequest): Promise<ToolCallResult> {
    // A call decided before (perhaps by an earlier run of the workflow, which no longer knows its
    // update id) keeps its first answer.
    const known = await this.s.traces.findCall(task.taskId, call.callId);
    if (known) return this.s.decisions.answer(known, call);
    // The answer goes out once the decision is committed. When this process's worker recorded it,
    // that is before the update's answer has made its way back through the workflow task and the
    // server (measured: a new grant's p50 29-31 ms → 24-27 ms). The committed record is the answer
    // either way, and a retried workflow task finds it and keeps it (see decideCall).
    const here = this.s.traces.whenDecided(task.taskId, call.callId);
    try {
      const handle = this.temporal.workflow.getHandle(task.workflowId);
      const update = updateWhenReady(() => handle.executeUpdate(requestToolCallUpdate, { args: [call], updateId: toolCallUpdateId(call.callId) }));
      const first = await Promise.race([update, here.decided.then((recorded) => ({ recorded }))]);
      if ('recorded' in first) {
        update.catch(() => undefined); // answered already; its outcome is the same decision
        return this.s.decisions.answer(first.recorded, call);
      }
      // The answer is read from the trace: the workflow never carries credential references (they
      // would sit in its history), and a concurrent request that reused this callId for another
      // call was joined to the first one's update, whose record tells.
      const recorded = await this.s.traces.get(first.traceId);
      return recorded ? this.s.decisions.answer(recorded, call) : first;
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) {
        // The workflow already finished (the task collapsed): the projection says so on re-read.
        const current = (await this.s.tasks.get(task.taskId))!;
        const reason = { code: 'task_not_active', message: `The task is ${current.status === 'active' ? 'not running' : current.status}.` };
        return this.s.decisions.commit(current, call, { decision: 'deny', reason, policyVersion: this.s.policy.active().version }, undefined, [], { fromGateway: true });
      }
      if (err instanceof WorkflowUpdateFailedError) throw new Problem(400, 'invalid_tool_call', String(err.cause?.message ?? err.message));
      throw err;
    } finally {
      here.cancel();
    }
  }

  /** Ends the task (gateway) or revokes it (admin kill switch); returns once the context collapsed. */
  async end(taskId: string, how: EndTaskRequest = { status: 'ended', reason: 'ended_by_gateway', by: 'gateway' }): Promise<CollapseResult> {
    const task = await this.s.tasks.get(taskId);
    if (!task) throw new Problem(404, 'task_not_found', `No task ${taskId}.`);
    try {
      const handle = this.temporal.workflow.getHandle(task.workflowId);
      return await updateWhenReady(() => handle.executeUpdate(endTaskUpdate, { args: [how] }));
    } catch (err) {
      if (!(err instanceof WorkflowNotFoundError)) throw err;
      const ended = (await this.s.tasks.get(taskId))!;
      const grants = await this.s.tasks.grants(taskId);
      return { taskId, status: ended.status === 'active' ? 'ended' : ended.status, revoked: grants.map((g) => g.toolId) };
    }
  }

  private inLane<T>(taskId: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.lanes.get(taskId) ?? Promise.resolve();
    const next = prev.then(fn, fn);
    const settled = next.then(
      () => undefined,
      () => undefined,
    );
    this.lanes.set(taskId, settled);
    void settled.then(() => {
      if (this.lanes.get(taskId) === settled) this.lanes.delete(taskId);
    });
    return next;
  }
}
