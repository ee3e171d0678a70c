// The provisioning journal (table provisioning_intents): for each step of a task's just-in-time
// saga, whether the target already held what the step asks for before its first attempt.
import type { SqlClient } from '../../src/db/sql';

export interface StepKey {
  taskId: string;
  appId: string;
  /** `account` or `entitlement:<id>`, with `#<sagaId>` when the caller names its saga. */
  step: string;
}

export interface Intent {
  preExisting: boolean;
  accountId?: string;
}

interface IntentRow {
  pre_existing: boolean;
  account_id: string | null;
  undo_started_at: Date | string | null;
}

const toIntent = (r: IntentRow): Intent => ({ preExisting: r.pre_existing, accountId: r.account_id ?? undefined });

/** The step bases: a task's account in an app, and each of its memberships there. */
export const ACCOUNT_STEP = 'account';
export const entitlementStep = (entitlementId: string) => `entitlement:${entitlementId}`;

/** Rows of one step base ($3) across sagas: `account` matches `account` and `account#<saga>`. */
const OF_BASE = `(step = $3 or starts_with(step, $3 || '#'))`;
/** A task's rows in an app of one step base ($1 task, $2 app, $3 base). */
const SAME_BASE = `task_id = $1 and app_id = $2 and ${OF_BASE}`;

export class ProvisioningIntents {
  constructor(private readonly db: SqlClient) {}

  /** First writer wins: a retry, or an attempt racing a timed-out one, gets what the first recorded. */
  async record(k: StepKey, preExisting: boolean, accountId?: string): Promise<Intent> {
    const [row] = await this.db.query<IntentRow>(
      `insert into provisioning_intents (task_id, app_id, step, pre_existing, account_id) values ($1, $2, $3, $4, $5)
       on conflict (task_id, app_id, step) do update set step = provisioning_intents.step
       returning pre_existing, account_id, undo_started_at`,
      [k.taskId, k.appId, k.step, preExisting, accountId ?? null],
    );
    return toIntent(row);
  }

  /** After the step: this attempt changed the target itself (so the task owns the change), and the account it used. */
  async settle(k: StepKey, changedByTask: boolean, accountId?: string): Promise<void> {
    await this.db.query(
      `update provisioning_intents set pre_existing = pre_existing and not $4, account_id = coalesce($5, account_id)
       where task_id = $1 and app_id = $2 and step = $3`,
      [k.taskId, k.appId, k.step, changedByTask, accountId ?? null],
    );
  }

  /** The step's rows across sagas, and whether an earlier attempt to undo it got as far as changing the target. */
  async undoState(k: StepKey): Promise<{ intents: Intent[]; undoneEarlier: boolean }> {
    const rows = await this.db.query<IntentRow>(`select pre_existing, account_id, undo_started_at from provisioning_intents where ${SAME_BASE}`, [
      k.taskId,
      k.appId,
      k.step,
    ]);
    return { intents: rows.map(toIntent), undoneEarlier: rows.some((r) => r.undo_started_at !== null) };
  }

  /**
   * The account a task's account step created (one saga's step, or any of the task's when the key
   * names no saga), for an undo not told the account: `{}` when the step saw no account and its
   * answer was lost, so only the target can tell whether it created one; undefined when it created none.
   */
  async createdAccount(k: StepKey): Promise<{ accountId?: string } | undefined> {
    const [row] = await this.db.query<{ account_id: string | null }>(
      `select account_id from provisioning_intents where ${k.step.includes('#') ? 'task_id = $1 and app_id = $2 and step = $3' : SAME_BASE}
       and not pre_existing order by account_id nulls last limit 1`,
      [k.taskId, k.appId, k.step],
    );
    return row && { accountId: row.account_id ?? undefined };
  }

  /** Whether an account step that got its answer records that it created this account (any task's). */
  async accountCreatedByAnswered(appId: string, accountId: string): Promise<boolean> {
    const rows = await this.db.query(
      `select 1 from provisioning_intents where app_id = $1 and account_id = $2 and not pre_existing and ${OF_BASE} limit 1`,
      [appId, accountId, ACCOUNT_STEP],
    );
    return rows.length > 0;
  }

  /** Written just before an undo changes the target, so a retry that finds nothing left reports the removal. */
  async markUndo(k: StepKey): Promise<void> {
    await this.db.query(`update provisioning_intents set undo_started_at = coalesce(undo_started_at, now()) where ${SAME_BASE}`, [k.taskId, k.appId, k.step]);
  }
}

/**
 * A step's rows move to another task, which now owns the removal (access handed over, see
 * activities/hand-over.ts): merged with its own rows of the same step, it owns what either task
 * added. The giving task keeps none, so its undo leaves the target as it is. A moved row keeps its
 * step's name, which names the giver's saga: `handed_from` says so.
 */
export async function handStepsOver(tx: SqlClient, k: StepKey, toTaskId: string): Promise<void> {
  await tx.query(
    `with moved as (delete from provisioning_intents where ${SAME_BASE} returning app_id, step, account_id, pre_existing)
     insert into provisioning_intents (task_id, app_id, step, account_id, pre_existing, handed_from)
     select $4, app_id, step, account_id, pre_existing, $1 from moved
     on conflict (task_id, app_id, step) do update set
       pre_existing = provisioning_intents.pre_existing and excluded.pre_existing,
       account_id = coalesce(provisioning_intents.account_id, excluded.account_id)`,
    [k.taskId, k.appId, k.step, toTaskId],
  );
}
