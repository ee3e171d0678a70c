// Activities: thin adapters from the task workflow to the services that do I/O.
// Built by factories over their dependencies so tests pass real ones without module mocking.
import { createTaskActivities, type TaskActivityDeps } from './task-activities';
import { createNotifyActivities, type NotifyDeps } from './notify';
import { createProvisioningActivities } from './provisioning/activities';
import { createIdentityActivities, type IdentityActivityDeps } from './identity';
import { taskBuildingOn } from './hand-over';
import { PersonAppLocks, personalApp, serializedPerPerson } from './provisioning/person-app-locks';

export type { EvaluatedPlan } from '../src/decisions/decision-service';

export interface ActivityDeps extends TaskActivityDeps, NotifyDeps {
  policy: TaskActivityDeps['policy'];
  provisioning: Parameters<typeof createProvisioningActivities>[0];
  identity: IdentityActivityDeps;
}

export function createActivities(deps: ActivityDeps) {
  const locks = new PersonAppLocks(deps.db);
  const personOf = async (taskId: string) => (await deps.tasks.get(taskId))?.userId;
  // Asked under the person's lock in the app (serializedPerPerson), so no step of another task
  // starts building on the account between this answer and the undo.
  const buildingOnAccount = async (i: { taskId: string; appId: string; accountId: string; userId?: string }) => {
    const userId = i.userId ?? (await personOf(i.taskId));
    return userId ? taskBuildingOn({ ...deps, locks }, { ...i, userId }) : undefined;
  };
  return {
    ...createTaskActivities(deps),
    ...createNotifyActivities(deps),
    ...serializedPerPerson(createProvisioningActivities({ ...deps.provisioning, taskBuildingOn: buildingOnAccount }), locks, {
      personOf,
      personal: (appId) => personalApp(deps.policy.active().app(appId)),
    }),
    ...createIdentityActivities(deps.identity),
  };
}

export type TaskActivities = ReturnType<typeof createActivities>;
