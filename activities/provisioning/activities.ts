// The just-in-time provisioning activities of the task workflow's saga: find the app's connector
// and answer each step exactly once per task, however often Temporal retries it.
//
// Exactly-once. A step that may add something (account, membership) first looks at the target; the
// connector reports what it saw through `observe` before it changes anything, and the step's first
// attempt records that in provisioning_intents under (task, app, step). Every later attempt — a
// retry after a timeout whose first attempt did add the member, or one racing a timed-out attempt
// still running — answers from that record, not from what it sees now: what the task added reads
// `account_created` / `entitlement_granted` (so the workflow pushes the compensation) and only what
// the person held before the task's first attempt reads `account_found` / `entitlement_already_present`.
// The record only ever moves from "held before" to "added by the task" (when an attempt had to add it
// after all), never back, so a compensation is never dropped. Undo steps remove only what the record
// says the task added, and a retried undo reports the removal its first attempt made.
import { ApplicationFailure } from '@temporalio/common';
import type { SqlClient } from '../../src/db/sql';
import type { DirectoryPerson } from '../../src/directory/person';
import type { App, Entitlement } from '../../src/policy/bundle';
import type { SecretStore } from '../../src/vault/secret-store';
import { change, type Connector, type Observe, type ProvisioningChange, type ProvisioningChangeKind } from './connector';
import { ACCOUNT_STEP, entitlementStep, ProvisioningIntents, type Intent, type StepKey } from './intents';
import { connectorFor } from './registry';

export type { ProvisioningChange, ProvisioningChangeKind } from './connector';

export interface AppCatalog {
  app(id: string): App | undefined;
}

export interface ProvisioningDeps {
  /** The active policy, or a getter for it (`() => policyStore.active()`) so a newly published bundle is used. */
  apps: AppCatalog | (() => AppCatalog);
  secrets: SecretStore;
  people: { person(id: string): Promise<DirectoryPerson | undefined> };
  db: SqlClient;
  fetch?: typeof fetch;
  /**
   * For a failed saga's undo of the account it created: the other task of the person that builds
   * on that account (its JIT record names it, or its own saga in the app has no decision yet), if
   * any. The account is then kept, and the task's end hands it over or deactivates it.
   */
  taskBuildingOn?(i: { taskId: string; appId: string; accountId: string; userId?: string }): Promise<string | undefined>;
}

/**
 * `sagaId` (optional, e.g. the tool call id) names one provisioning saga within the task. Without
 * it a task's steps are keyed by app (and entitlement) alone, so a second saga of the same task for
 * the same app is answered like a retry of the first: "created" again.
 */
export interface AccountInput {
  taskId: string;
  appId: string;
  userId: string;
  sagaId?: string;
}

export interface EntitlementInput {
  taskId: string;
  appId: string;
  accountId: string;
  entitlementId: string;
  sagaId?: string;
}

export interface DeactivationInput {
  taskId: string;
  appId: string;
  /** Empty when the account step's answer was lost: then `userId` (and the step's `sagaId`) find it. */
  accountId: string;
  userId?: string;
  sagaId?: string;
}

const ADDED: ReadonlySet<ProvisioningChangeKind> = new Set(['account_created', 'entitlement_granted', 'credential_minted']);
const AS_ADDED: Partial<Record<ProvisioningChangeKind, ProvisioningChangeKind>> = {
  account_found: 'account_created',
  entitlement_already_present: 'entitlement_granted',
};
const AS_REMOVED: Partial<Record<ProvisioningChangeKind, ProvisioningChangeKind>> = {
  entitlement_already_absent: 'entitlement_revoked',
  account_already_inactive: 'account_deactivated',
};

const refusal = (type: string, message: string) => ApplicationFailure.create({ type, message, nonRetryable: true });
const stepKey = (taskId: string, appId: string, base: string, sagaId?: string): StepKey => ({ taskId, appId, step: sagaId ? `${base}#${sagaId}` : base });

export function createProvisioningActivities(deps: ProvisioningDeps) {
  const intents = new ProvisioningIntents(deps.db);
  const catalog = typeof deps.apps === 'function' ? deps.apps : () => deps.apps as AppCatalog;

  const target = async (appId: string) => {
    const app = catalog().app(appId);
    if (!app) throw refusal('AppUnknown', `App ${appId} is not in the active policy.`);
    return { app, connector: await connectorFor(app, deps) };
  };

  const entitlementOf = (app: App, entitlementId: string): Entitlement => {
    const found = app.entitlements.find((e) => e.id === entitlementId);
    if (!found) throw refusal('EntitlementUnknown', `App ${app.id} has no entitlement ${entitlementId}.`);
    return found;
  };

  /** A step that may add something, answered as its first attempt recorded (see the top of the file). */
  const once = async <R extends { change: ProvisioningChange; accountId?: string }>(key: StepKey, run: (observe: Observe) => Promise<R>) => {
    // Recording is first-writer-wins: on a retry it answers what the first attempt saw.
    let intent: Intent | undefined;
    const result = await run(async (present, accountId) => {
      intent ??= await intents.record(key, present, accountId);
    });
    const addedNow = ADDED.has(result.change.kind);
    const accountId = result.accountId ?? result.change.accountId;
    if (intent && ((intent.preExisting && addedNow) || (accountId && intent.accountId !== accountId))) {
      await intents.settle(key, addedNow, accountId);
    }
    const ours = addedNow || intent?.preExisting === false;
    const asAdded = AS_ADDED[result.change.kind];
    const answer =
      ours && !addedNow && asAdded
        ? { ...result.change, kind: asAdded, detail: ['absent when this task first looked', result.change.detail].filter(Boolean).join('; ') }
        : result.change;
    return { ...result, change: answer, ours };
  };

  /**
   * A step that removes what the task added, and nothing else: what the record says the person held
   * before stays, and so does everything when nothing is recorded for a connector that records before
   * every change (so a compensation registered before its step ran is safe).
   */
  const undo = async (
    key: StepKey,
    accountId: string,
    connector: Connector,
    run: (observe: Observe) => Promise<ProvisioningChange>,
    leave: { heldBefore: () => ProvisioningChange; untouched: () => ProvisioningChange; kept?: () => Promise<ProvisioningChange | undefined> },
  ) => {
    const { intents: recorded, undoneEarlier } = await intents.undoState(key);
    if (!recorded.length && connector.observesBeforeChange) return leave.untouched();
    const ours = (i: Intent) => !i.preExisting && (i.accountId === undefined || i.accountId === accountId);
    if (recorded.length && !recorded.some(ours)) return leave.heldBefore();
    const kept = !undoneEarlier && (await leave.kept?.());
    if (kept) return kept;
    const result = await run(async (present) => {
      if (present && recorded.length) await intents.markUndo(key);
    });
    const asRemoved = AS_REMOVED[result.kind];
    return undoneEarlier && asRemoved ? { ...result, kind: asRemoved, detail: 'done by an earlier attempt of this task' } : result;
  };

  /**
   * The account an account step created, when the caller could not be told its id: the one its
   * journal row names, else (the step saw no account, then lost every answer) the person's account
   * in the target, unless a step that did get its answer records creating that one.
   */
  const accountOfLostAnswer = async (i: DeactivationInput, connector: Connector): Promise<string | undefined> => {
    const created = await intents.createdAccount(stepKey(i.taskId, i.appId, ACCOUNT_STEP, i.sagaId));
    if (!created || created.accountId) return created?.accountId;
    const person = i.userId ? await deps.people.person(i.userId) : undefined;
    if (!person) throw refusal('PersonUnknown', `Task ${i.taskId}: no person ${i.userId ?? '(none given)'} to look for the account its failed step may have created.`);
    const found = await connector.findAccount({ taskId: i.taskId, person });
    return found && !(await intents.accountCreatedByAnswered(i.appId, found)) ? found : undefined;
  };

  return {
    async provisionAccount(i: AccountInput): Promise<{ accountId: string; created: boolean; change: ProvisioningChange }> {
      const { connector } = await target(i.appId);
      const person = await deps.people.person(i.userId);
      if (!person) throw refusal('PersonUnknown', `Person ${i.userId} is not in the directory.`);
      if (!person.active) throw refusal('PersonInactive', `Person ${i.userId} is inactive: no access is provisioned for them.`);
      const r = await once(stepKey(i.taskId, i.appId, ACCOUNT_STEP, i.sagaId), (observe) => connector.ensureAccount({ taskId: i.taskId, person }, observe));
      return { accountId: r.accountId, created: r.ours, change: r.change };
    },

    async grantEntitlement(i: EntitlementInput): Promise<ProvisioningChange> {
      const { app, connector } = await target(i.appId);
      const entitlement = entitlementOf(app, i.entitlementId);
      const r = await once(stepKey(i.taskId, i.appId, entitlementStep(i.entitlementId), i.sagaId), async (observe) => ({
        change: await connector.grantEntitlement({ taskId: i.taskId, accountId: i.accountId, entitlement }, observe),
      }));
      return r.change;
    },

    async revokeEntitlement(i: Omit<EntitlementInput, 'sagaId'>): Promise<ProvisioningChange> {
      const { app, connector } = await target(i.appId);
      const entitlement = entitlementOf(app, i.entitlementId);
      const fields = { accountId: i.accountId, entitlementId: i.entitlementId };
      return undo(
        stepKey(i.taskId, i.appId, entitlementStep(i.entitlementId)),
        i.accountId,
        connector,
        (observe) => connector.revokeEntitlement({ taskId: i.taskId, accountId: i.accountId, entitlement }, observe),
        {
          heldBefore: () => change('entitlement_already_present', app.id, { ...fields, detail: 'held before this task: left in place' }),
          untouched: () => change('entitlement_already_absent', app.id, { ...fields, detail: 'this task added no such membership: nothing to remove' }),
        },
      );
    },

    /**
     * `accountId` empty: the account step failed for good, perhaps after creating the account (its
     * answer lost), so the account is looked for (see accountOfLostAnswer), in `sagaId`'s step or,
     * without one, in any of the task's.
     */
    async deactivateAccount(i: DeactivationInput): Promise<ProvisioningChange> {
      const { app, connector } = await target(i.appId);
      const accountId = i.accountId || (await accountOfLostAnswer(i, connector));
      if (!accountId) return change('account_already_inactive', app.id, { detail: 'the account step of this task created no account: nothing to deactivate' });
      return undo(
        stepKey(i.taskId, i.appId, ACCOUNT_STEP),
        accountId,
        connector,
        (observe) => connector.deactivateAccount({ taskId: i.taskId, accountId }, observe),
        {
          heldBefore: () => change('account_found', app.id, { accountId, detail: 'not created for this task: left active' }),
          untouched: () => change('account_found', app.id, { accountId, detail: 'this task created no account: nothing to deactivate' }),
          // Only a saga's undo: the task's end decided already, with hand-overs (activities/hand-over.ts).
          kept: async () => {
            const other = i.sagaId && (await deps.taskBuildingOn?.({ taskId: i.taskId, appId: app.id, accountId, userId: i.userId }));
            return other ? change('account_kept', app.id, { accountId, detail: `task ${other} builds on it: kept until this task ends, which hands it over or deactivates it` }) : undefined;
          },
        },
      );
    },
  };
}

export type ProvisioningActivities = ReturnType<typeof createProvisioningActivities>;
