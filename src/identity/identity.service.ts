// Joiners, movers and leavers, whatever the source (SCIM from the IdP, signed HR events): one
// path to change a person, one to offboard them. A leaver is inactive in the database before the
// caller gets an answer (every new decision is denied at once); the offboarding workflow then
// collapses their tasks. A mover's live grants are decided again by the mover workflow.
import { WorkflowExecutionAlreadyStartedError, type Client } from '@temporalio/client';
import type { MoverRevocation } from '../../activities/identity';
import { moverWorkflow, offboardingWorkflow, policyReevaluationWorkflow } from '../../workflows/offboarding-workflow';
import type { SqlClient } from '../db/sql';
import type { DirectoryRepository } from '../directory/directory-repository';
import { Problem } from '../http/problem';
import { checkIfMatch } from '../scim/values';
import { notFound, preconditionFailed, uniqueness } from '../scim/scim-error';
import { ScimRepository } from '../scim/scim-repository';
import { MOVER_ATTRIBUTES, renderUser, storedUser, userColumns, type UserColumns, type UserRow } from '../scim/user-resource';
import type { ScimResource } from '../scim/query';
import type { Services } from '../services';
import { IdentityRepository, offboardingId, type OffboardingTrigger } from './identity-repository';

export interface IdentityDeps {
  db: SqlClient;
  directory: Pick<DirectoryRepository, 'userIdByEmail'>;
  taskQueue: string;
  /** How long an API call waits for the movers' re-evaluation before answering (it goes on regardless). */
  moverWaitMs?: number;
}

export interface PersonChange {
  /** The person's full SCIM resource after the change (derived from the current one). */
  change: (current: ScimResource) => Record<string, unknown>;
  /** Group ids to hold afterwards (HR); SCIM changes memberships through Groups. */
  groups?: string[];
  ifMatch?: string;
  /** Names the change in workflow ids and traces: the HR event id, or the SCIM version. */
  eventId?: string;
  source: 'hr' | 'scim';
  /** Base URL of /scim/v2 for references in the returned resource. */
  base: string;
}

export interface PersonChanged {
  row: UserRow;
  offboardingId?: string;
  /** Grants revoked because the person moved (when the re-evaluation finished in time). */
  revoked?: MoverRevocation[];
}

const WRITE_ATTEMPTS = 3;

export class IdentityService {
  private readonly people: IdentityRepository;
  private readonly scim: ScimRepository;

  /** The service as the API modules (SCIM, HR) build it from the process's services. */
  static from(services: Services, temporal: Client): IdentityService {
    return new IdentityService({ db: services.db, directory: services.directory, taskQueue: services.config.temporal.taskQueue }, temporal);
  }

  constructor(
    private readonly deps: IdentityDeps,
    private readonly temporal: Client,
  ) {
    this.people = new IdentityRepository(deps.db);
    this.scim = new ScimRepository(deps.db);
  }

  /** The person an HR event names, by id or email. */
  async resolve(who: { userId?: string; email?: string }): Promise<string> {
    const id = who.userId ?? (who.email ? await this.deps.directory.userIdByEmail(who.email) : undefined);
    if (!id || !(await this.scim.user(id))) throw new Problem(422, 'user_unknown', `No person ${who.userId ?? who.email} in the directory.`);
    return id;
  }

  /**
   * Changes a person: optimistic concurrency on the row's version (If-Match, or retried when
   * another write got in between), userName uniqueness, then the lifecycle: `active` going false
   * offboards; a policy-relevant attribute or group change re-evaluates live grants.
   */
  async updatePerson(id: string, p: PersonChange): Promise<PersonChanged> {
    for (let attempt = 1; ; attempt++) {
      const row = await this.scim.user(id);
      if (!row) throw notFound('User', id);
      checkIfMatch(p.ifMatch, row.version);
      const next = p.change(renderUser(row, p.base));
      const cols = userColumns(next);
      if (await this.scim.userNameTaken(cols.userName, id)) throw uniqueness(`userName ${cols.userName} is taken.`);
      const eventId = p.eventId ?? `scim-v${row.version + 1}`;
      const leaving = row.active && !cols.active;
      const written = await this.deps.db.transaction(async (tx) => {
        if (!(await this.scim.updateUser(tx, id, row.version, cols, storedUser(next)))) return undefined;
        const groupsChanged = p.groups ? await this.scim.setUserGroups(tx, id, p.groups) : false;
        const offboarding = leaving ? offboardingId(id, eventId) : undefined;
        if (offboarding) await this.people.requestOffboarding(tx, { offboardingId: offboarding, userId: id, trigger: p.source === 'hr' ? 'hr' : 'scim_patch' });
        return { offboarding, groupsChanged };
      });
      if (!written) {
        if (p.ifMatch || attempt >= WRITE_ATTEMPTS) throw preconditionFailed();
        continue;
      }
      if (written.offboarding) await this.startOffboardings(id);
      const moved = !leaving && cols.active && (written.groupsChanged || movedAttributes(row, cols));
      const revoked = moved ? await this.moved(id, eventId) : undefined;
      return { row: (await this.scim.user(id))!, offboardingId: written.offboarding, revoked };
    }
  }

  /** Offboards a person (HR event, SCIM DELETE): inactive now, then the offboarding workflow. */
  async offboard(userId: string, o: { trigger: Exclude<OffboardingTrigger, 'scim_patch'>; eventId: string; ifMatch?: string }): Promise<{ offboardingId: string }> {
    const row = await this.scim.user(userId);
    if (!row) throw notFound('User', userId);
    checkIfMatch(o.ifMatch, row.version);
    const id = offboardingId(userId, o.eventId);
    await this.deps.db.transaction(async (tx) => {
      await this.people.deactivate(tx, userId, { delete: o.trigger === 'scim_delete' });
      await this.people.requestOffboarding(tx, { offboardingId: id, userId, trigger: o.trigger });
    });
    await this.startOffboardings(userId);
    return { offboardingId: id };
  }

  /**
   * Starts the workflows of this person's offboardings not started yet (also those whose start
   * failed earlier). The workflow id is the offboarding id, so a repeated start finds the first.
   */
  async startOffboardings(userId: string): Promise<void> {
    for (const o of await this.people.unstartedOffboardings(userId)) {
      try {
        await this.temporal.workflow.start(offboardingWorkflow, {
          workflowId: o.offboardingId,
          taskQueue: this.deps.taskQueue,
          workflowIdConflictPolicy: 'USE_EXISTING',
          args: [{ offboardingId: o.offboardingId, userId, by: o.trigger === 'hr' ? 'hr' : 'scim' }],
        });
      } catch (err) {
        if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
      }
      await this.people.markStarted(o.offboardingId);
    }
  }

  /** Group memberships changed (SCIM Groups): the members' live grants are decided again. */
  async groupMembersChanged(userIds: string[], eventId: string): Promise<void> {
    await Promise.all(userIds.map((u) => this.moved(u, eventId)));
  }

  /**
   * A new policy version was activated: every live grant is decided again with it, as after a move,
   * by one durable fan-out workflow (not waited for). Returns its workflow id.
   */
  async policyChanged(version: string): Promise<string> {
    const handle = await this.temporal.workflow.start(policyReevaluationWorkflow, {
      workflowId: `policy-reevaluation-${version}`,
      taskQueue: this.deps.taskQueue,
      workflowIdConflictPolicy: 'USE_EXISTING',
      args: [{ version }],
    });
    return handle.workflowId;
  }

  /**
   * Runs the movers re-evaluation as a workflow (durable, retried) and waits for it a bounded
   * time, so the answer usually reflects its outcome. Skipped when nothing is granted.
   */
  async moved(userId: string, eventId: string): Promise<MoverRevocation[] | undefined> {
    if (!(await this.people.hasLiveGrants(userId))) return [];
    const handle = await this.temporal.workflow.start(moverWorkflow, {
      workflowId: `mover-${userId}-${eventId}`,
      taskQueue: this.deps.taskQueue,
      workflowIdConflictPolicy: 'USE_EXISTING',
      args: [{ userId, cause: eventId }],
    });
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<undefined>((resolve) => (timer = setTimeout(() => resolve(undefined), this.deps.moverWaitMs ?? 10_000)));
    try {
      return await Promise.race([handle.result(), timeout]);
    } finally {
      clearTimeout(timer);
    }
  }
}

function movedAttributes(before: UserRow, after: UserColumns): boolean {
  const was: Record<(typeof MOVER_ATTRIBUTES)[number], string | null> = {
    department: before.department,
    title: before.title,
    managerId: before.manager_id,
    userType: before.user_type,
  };
  return MOVER_ATTRIBUTES.some((a) => (was[a] ?? undefined) !== after[a]);
}
