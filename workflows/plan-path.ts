// What a plan means for the path of a call, shared by the task workflow and its activities.
import type { EvaluatedPlan } from '../activities';
import type { ContextEntry, GrantVia, ToolCallRequest } from './messages';

/** Decided without waiting for anyone or anything: a refusal, or a call the policy alone allows. */
export function decidedAtOnce(plan: EvaluatedPlan): boolean {
  if (plan.decision === 'deny' || plan.decision === 'throttle') return true;
  return !plan.needsConfirmation && !plan.needsApproval && !plan.needsProvisioning;
}

export function contextEntry(req: ToolCallRequest, plan: EvaluatedPlan, via: GrantVia, at = req.requestedAt): ContextEntry {
  return { toolId: req.toolId, appId: plan.appId!, grantedAt: at, via };
}
