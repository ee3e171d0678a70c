// Serializes changes to one person's access in one app with person accounts (SCIM). Such access is
// the person's, and several tasks of theirs may rely on it (activities/hand-over.ts). A task that
// removes its JIT access decides what to hand over from what other tasks have recorded; a task whose
// provisioning saga is between its steps has recorded only what it looked at (the journal), so a
// removal decided then could deactivate the account, or remove the membership, the saga had just
// found and is building on. So: a provisioning step holds the person's lock in the app while it
// looks and changes; a task removing access takes the lock when it decides, and holds it until the
// removals it decided there are done (beside other removing tasks: each removes only its own). A
// task that ends waits, by retrying, while another task's saga there has no decision yet; a
// mover's release does not wait (two tasks releasing could wait on each other's decisions) but
// keeps an entitlement such a saga has looked at until its next release or its end. A saga that
// starts meanwhile waits, then finds the account deactivated and reactivates it as its own. The
// lock is a lease: a holder that dies stops blocking the others when it expires.
import { randomUUID } from 'node:crypto';
import { ApplicationFailure } from '@temporalio/common';
import type { SqlClient } from '../../src/db/sql';
import type { App } from '../../src/policy/bundle';
import { heartbeat } from './activity-context';
import type { ProvisioningActivities } from './activities';

/** A provisioning step's hold: longer than the step's start-to-close timeout (1 minute). */
const STEP_LEASE_SECONDS = 90;
/** A removal's hold, from the decision to its last receipt: removals retry for minutes when a connector fails. */
export const REMOVAL_LEASE_SECONDS = 600;
/** How long a provisioning step waits for the lock before its attempt fails (and is retried). */
const STEP_WAIT_MS = 30_000;
/**
 * A saga's steps run for at most ~12 minutes with all their retries (two steps, five attempts of a
 * minute each): a journal row older than this whose call has no decision is no saga under way but a
 * task that stopped (a failing workflow), and must not hold other tasks' removals back for ever.
 */
const SAGA_UNDER_WAY_MINUTES = 15;

/** Apps whose accounts belong to the person, shared by their tasks. */
export function personalApp(app: Pick<App, 'connector'> | undefined): boolean {
  return app?.connector.type === 'scim';
}

/** The apps with person accounts that the records are in, each once. */
export function personalAppsOf(policy: { app(id: string): App | undefined }, records: { appId: string }[]): string[] {
  return [...new Set(records.filter((r) => personalApp(policy.app(r.appId))).map((r) => r.appId))];
}

/** Another holder has the lock, or another task's saga is under way: retried by Temporal. */
export function accessBusy(message: string): ApplicationFailure {
  return ApplicationFailure.create({ type: 'AccessBusy', message });
}

/**
 * `step`: one provisioning step, alone. `removal`: a task removing its access; removals share the
 * lock (tasks of an offboarded person all collapse at once, each removing only its own), but no
 * step runs beside them.
 */
export type LockKind = 'step' | 'removal';

export class PersonAppLocks {
  constructor(private readonly db: SqlClient) {}

  /**
   * Takes the lock for `holder` (again, if it holds it), beside the holders there when they and it
   * are removals; false otherwise. A lock whose lease expired is free.
   */
  async take(appId: string, userId: string, holder: string, kind: LockKind, seconds: number): Promise<boolean> {
    const rows = await this.db.query(
      `insert into person_app_locks as l (app_id, user_id, kind, holders, expires_at)
       values ($1, $2, $4::text, array[$3::text], now() + make_interval(secs => $5))
       on conflict (app_id, user_id) do update set
         kind = excluded.kind,
         holders = case when l.expires_at < now() or cardinality(l.holders) = 0 then excluded.holders
                        when $3::text = any(l.holders) then l.holders
                        else l.holders || excluded.holders end,
         expires_at = case when l.expires_at < now() or cardinality(l.holders) = 0 then excluded.expires_at
                           else greatest(l.expires_at, excluded.expires_at) end
       where l.expires_at < now() or cardinality(l.holders) = 0 or l.holders = excluded.holders
          or (l.kind = 'removal' and excluded.kind = 'removal')
       returning 1`,
      [appId, userId, holder, kind, seconds],
    );
    return rows.length > 0;
  }

  /**
   * A removal still under way (a connector failing, retried): its holder's lease runs `seconds` from
   * now again. One that lapsed is renewed only if no one took the lock meanwhile (a taker replaces the holders).
   */
  async renew(appId: string, userId: string, holder: string, seconds: number): Promise<void> {
    await this.db.query(
      `update person_app_locks set expires_at = greatest(expires_at, now() + make_interval(secs => $4))
       where app_id = $1 and user_id = $2 and kind = 'removal' and $3 = any(holders)`,
      [appId, userId, holder, seconds],
    );
  }

  async release(appId: string, userId: string, holder: string): Promise<void> {
    await this.db.query('update person_app_locks set holders = array_remove(holders, $3) where app_id = $1 and user_id = $2 and $3 = any(holders)', [
      appId,
      userId,
      holder,
    ]);
    await this.dropIfFree(appId, userId);
  }

  async releaseAll(holder: string): Promise<void> {
    const released = await this.db.query<{ app_id: string; user_id: string }>(
      'update person_app_locks set holders = array_remove(holders, $1) where $1 = any(holders) returning app_id, user_id',
      [holder],
    );
    for (const r of released) await this.dropIfFree(r.app_id, r.user_id);
  }

  /** A lock no one holds any more goes (a taker that filled it meanwhile keeps it: the condition is checked again on the row). */
  private async dropIfFree(appId: string, userId: string): Promise<void> {
    await this.db.query('delete from person_app_locks where app_id = $1 and user_id = $2 and cardinality(holders) = 0', [appId, userId]);
  }

  /**
   * The steps (`account`, `entitlement:<id>`) that sagas of other active tasks of the person in the
   * app have looked at (their journal names the saga's call; a row handed over from another task
   * names that task's saga) while their calls have no decision yet: what those sagas found there is
   * not in their grants or JIT records.
   */
  async stepsUnderWay(userId: string, exceptTaskId: string, appId: string): Promise<{ taskId: string; step: string }[]> {
    const rows = await this.db.query<{ task_id: string; step: string }>(
      `select i.task_id, split_part(i.step, '#', 1) as step from provisioning_intents i join tasks t on t.task_id = i.task_id
       where t.user_id = $1 and t.status = 'active' and i.task_id <> $2 and i.app_id = $3 and strpos(i.step, '#') > 0
         and i.handed_from is null and i.created_at > now() - make_interval(mins => $4)
         and not exists (select 1 from decision_traces d where d.task_id = i.task_id and d.call_id = split_part(i.step, '#', 2) and d.kind = 'decision')`,
      [userId, exceptTaskId, appId, SAGA_UNDER_WAY_MINUTES],
    );
    return rows.map((r) => ({ taskId: r.task_id, step: r.step }));
  }

  /**
   * The removals `taskId` decided while holding the lock in `appIds`: it keeps each lock until the
   * last of them there is done (`removed`); a lock with none to keep it is released now.
   */
  async decided(taskId: string, userId: string, appIds: string[], removals: { appId: string; entitlementId: string }[]): Promise<void> {
    for (const r of removals.filter((x) => appIds.includes(x.appId))) {
      await this.db.query('insert into person_app_removals (task_id, app_id, entitlement_id) values ($1, $2, $3) on conflict do nothing', [taskId, r.appId, r.entitlementId]);
    }
    for (const appId of appIds) await this.releaseUnlessRemoving(taskId, userId, appId);
  }

  /** One decided removal done (removed, or given up until later): the lock goes with the last one in the app. */
  async removed(taskId: string, userId: string, appId: string, entitlementId: string): Promise<void> {
    await this.db.query('delete from person_app_removals where task_id = $1 and app_id = $2 and entitlement_id = $3', [taskId, appId, entitlementId]);
    await this.releaseUnlessRemoving(taskId, userId, appId);
  }

  /** The task is over: whatever it holds goes. */
  async over(taskId: string): Promise<void> {
    await this.db.query('delete from person_app_removals where task_id = $1', [taskId]);
    await this.releaseAll(taskId);
  }

  private async releaseUnlessRemoving(taskId: string, userId: string, appId: string): Promise<void> {
    const rows = await this.db.query('select 1 from person_app_removals where task_id = $1 and app_id = $2 limit 1', [taskId, appId]);
    if (!rows.length) await this.release(appId, userId, taskId);
  }

  /** Runs a provisioning step under the lock, waiting for it (heartbeating) for up to 30 s. */
  async during<T>(appId: string, userId: string, step: () => Promise<T>): Promise<T> {
    const holder = `step:${randomUUID()}`;
    const until = Date.now() + STEP_WAIT_MS;
    for (let pause = 50; !(await this.take(appId, userId, holder, 'step', STEP_LEASE_SECONDS)); pause = Math.min(pause * 2, 1000)) {
      if (Date.now() > until) throw accessBusy(`Access of ${userId} in ${appId} is being changed by another task; retrying.`);
      heartbeat();
      await new Promise((r) => setTimeout(r, pause));
    }
    try {
      return await step();
    } finally {
      await this.release(appId, userId, holder);
    }
  }
}

/**
 * The saga's steps that look at a person's account and add to it, and a failed saga's undo of the
 * account, each under the person's lock in the app when the app has person accounts. Removals are
 * not wrapped: the removing task holds the lock from its decision on (activities/task-activities.ts);
 * each attempt of one renews that hold, so a removal retrying a failing connector for longer than a
 * lease still holds new sagas back.
 */
export function serializedPerPerson(
  acts: ProvisioningActivities,
  locks: PersonAppLocks,
  by: { personOf(taskId: string): Promise<string | undefined>; personal(appId: string): boolean },
): ProvisioningActivities {
  const locked = async <T>(appId: string, userId: string | undefined, step: () => Promise<T>): Promise<T> =>
    by.personal(appId) && userId ? locks.during(appId, userId, step) : step();
  const renewed = async (appId: string, taskId: string) => {
    const userId = by.personal(appId) ? await by.personOf(taskId) : undefined;
    if (userId) await locks.renew(appId, userId, taskId, REMOVAL_LEASE_SECONDS);
  };
  return {
    ...acts,
    provisionAccount: (i) => locked(i.appId, i.userId, () => acts.provisionAccount(i)),
    grantEntitlement: async (i) => locked(i.appId, await by.personOf(i.taskId), () => acts.grantEntitlement(i)),
    revokeEntitlement: async (i) => {
      await renewed(i.appId, i.taskId);
      return acts.revokeEntitlement(i);
    },
    deactivateAccount: async (i) => {
      // A failed saga's undo is a step: it decides whether another task builds on the account.
      if (i.sagaId) return locked(i.appId, i.userId ?? (await by.personOf(i.taskId)), () => acts.deactivateAccount(i));
      await renewed(i.appId, i.taskId);
      return acts.deactivateAccount(i);
    },
  };
}
