// Activities: thin adapters from the task workflow to the services that do I/O.
// Built by factories over their dependencies so tests pass real ones without module mocking.
import { createTaskActivities, type TaskActivityDeps } from './task-activities';
import { createNotifyActivities, type NotifyDeps } from './notify';
import { createProvisioningActivities } from './provisioning/activities';
import { createIdentityActivities, type IdentityActivityDeps } from './identity';
import { PersonAppLocks, personalApp, serializedPerPerson } from './provisioning/person-app-locks';

export type { EvaluatedPlan } from '../src/decisions/decision-service';

export interface ActivityDeps extends TaskActivityDeps, NotifyDeps {
  policy: TaskActivityDeps['policy'];
  provisioning: Parameters<typeof createProvisioningActivities>[0];
  identity: IdentityActivityDeps;
}

export function createActivities(deps: ActivityDeps) {
  return {
    ...createTaskActivities(deps),
    ...createNotifyActivities(deps),
    ...serializedPerPerson(createProvisioningActivities(deps.provisioning), new PersonAppLocks(deps.db), {
      personOf: async (taskId) => (await deps.tasks.get(taskId))?.userId,
      personal: (appId) => personalApp(deps.policy.active().app(appId)),
    }),
    ...createIdentityActivities(deps.identity),
  };
}

export type TaskActivities = ReturnType<typeof createActivities>;
