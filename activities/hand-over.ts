// Access just-in-time provisioning creates in an app with person accounts (SCIM) is the person's,
// not the task's: another active task of theirs may rely on it (the agent-held path grants a tool on
// the strength of access another task provisioned; a second task may provision another entitlement
// on the account the first created). When a task ends, or a mover's revocation leaves its access
// unneeded, what another task still relies on is handed over to that task instead of removed, so
// the other task's live grant keeps working and its own end removes the access.
import type { SqlClient } from '../src/db/sql';
import { ACCOUNT_STEP, entitlementStep, handStepsOver } from './provisioning/intents';
import { personalApp, personalAppsOf, type PersonAppLocks } from './provisioning/person-app-locks';
import type { PolicyStore } from '../src/policy/policy-store';
import { NotHandedOver, type ProvisionedAccess, type ProvisionedAccessRepository, type TaskRecord } from '../src/tasks/task-repository';

export interface HandOverDeps {
  provisioned: ProvisionedAccessRepository;
  policy: PolicyStore;
  /** Writes the giving task's receipt with the hand-over in the same transaction. */
  receipt(taskId: string, fields: Record<string, unknown>, within: (tx: SqlClient) => Promise<void>): Promise<void>;
}

/**
 * Hands over what other tasks rely on and answers what is left for the caller to remove (re-read,
 * as a hand-over moves the account's deactivation away from the giving task's other records).
 * `accounts`: at the end of a task, an account it created goes to a task holding JIT access on it.
 */
export async function handOver(deps: HandOverDeps, t: TaskRecord, records: ProvisionedAccess[], accounts: boolean): Promise<ProvisionedAccess[]> {
  const policy = deps.policy.active();
  const personal = personalAppsOf(policy, records);
  if (!personal.length) return records;
  const elsewhere = await deps.provisioned.reliedOnElsewhere(t.userId, t.taskId, personal);
  if (!elsewhere.grants.length && !elsewhere.records.length) return records;

  const handed = new Set<ProvisionedAccess>();
  for (const r of records) {
    if (!personal.includes(r.appId) || !r.entitlementGranted) continue;
    const needing = elsewhere.grants.filter((g) => g.appId === r.appId && policy.entitlement(g.toolId) === r.entitlementId);
    for (const taskId of new Set(needing.map((g) => g.taskId))) {
      const toolIds = needing.filter((g) => g.taskId === taskId).map((g) => g.toolId);
      const fields = { appId: r.appId, entitlementId: r.entitlementId, revocation: 'handed_over', toTaskId: taskId, toolIds };
      const within = async (tx: SqlClient) => {
        const { accountMoved } = await deps.provisioned.handEntitlementOver(tx, r, taskId, toolIds);
        await handStepsOver(tx, { taskId: t.taskId, appId: r.appId, step: entitlementStep(r.entitlementId) }, taskId);
        if (accountMoved) await handStepsOver(tx, { taskId: t.taskId, appId: r.appId, step: ACCOUNT_STEP }, taskId);
      };
      if (await tried(() => deps.receipt(t.taskId, fields, within))) {
        handed.add(r);
        break;
      }
    }
  }

  let left = await liveOf(deps, t.taskId, records.filter((r) => !handed.has(r)));
  if (!accounts) return left;
  // Several records of the task may say they created the account (one per saga): one hand-over each account.
  const accountsOf = new Map(left.filter((l) => personal.includes(l.appId) && l.accountCreated).map((l) => [`${l.appId}\u0000${l.accountId}`, l]));
  for (const r of accountsOf.values()) {
    for (const to of elsewhere.records.filter((o) => o.appId === r.appId && o.accountId === r.accountId)) {
      const fields = { appId: r.appId, entitlementId: r.entitlementId, accountId: r.accountId, revocation: 'handed_over', toTaskId: to.taskId, account: true };
      const within = async (tx: SqlClient) => {
        await deps.provisioned.handAccountOver(tx, r, to);
        await handStepsOver(tx, { taskId: t.taskId, appId: r.appId, step: ACCOUNT_STEP }, to.taskId);
      };
      if (await tried(() => deps.receipt(t.taskId, fields, within))) {
        left = await liveOf(deps, t.taskId, left);
        break;
      }
    }
  }
  return left;
}

/** Whether the hand-over happened; a receiver that no longer qualifies is the only refusal expected. */
async function tried(handOverTo: () => Promise<void>): Promise<boolean> {
  try {
    await handOverTo();
    return true;
  } catch (err) {
    if (err instanceof NotHandedOver) return false;
    throw err;
  }
}

/** The task's records as they are now, of those given. */
async function liveOf(deps: HandOverDeps, taskId: string, of: ProvisionedAccess[]): Promise<ProvisionedAccess[]> {
  const now = new Map((await deps.provisioned.ofTask(taskId)).map((p) => [`${p.appId}\u0000${p.entitlementId}`, p]));
  return of.map((p) => now.get(`${p.appId}\u0000${p.entitlementId}`)!).filter((p) => p && !p.revokedAt);
}

/**
 * Another active task of the person that builds on the person's account in the app: its JIT record
 * names the account, or its own saga there has looked and has no decision yet (what it found is in
 * no record). A failed saga keeps an account it created for such a task (ProvisioningDeps.taskBuildingOn).
 */
export async function taskBuildingOn(
  deps: { provisioned: ProvisionedAccessRepository; policy: PolicyStore; locks: PersonAppLocks },
  i: { taskId: string; userId: string; appId: string; accountId: string },
): Promise<string | undefined> {
  if (!personalApp(deps.policy.active().app(i.appId))) return undefined;
  const records = await deps.provisioned.recordsElsewhere(i.userId, i.taskId, [i.appId]);
  const recorded = records.find((r) => r.accountId === i.accountId);
  if (recorded) return recorded.taskId;
  const [underWay] = await deps.locks.stepsUnderWay(i.userId, i.taskId, i.appId);
  return underWay?.taskId;
}
