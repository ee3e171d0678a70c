// The task workflow's activities over a real database, without Temporal: the example governance
// bundle, the services the worker builds, and tasks inserted as the API would start them.
import path from 'node:path';
import { createTaskActivities } from '../../activities/task-activities';
import { loadConfig } from '../../src/config/config';
import type { SqlClient } from '../../src/db/sql';
import { createServices, type Services } from '../../src/services';
import { activityDeps } from '../../src/worker';
import { taskWorkflowId } from '../../workflows/messages';

export interface TaskActivitiesWorld {
  services: Services;
  activities: ReturnType<typeof createTaskActivities>;
  /** An active task of the person's, for an hour. */
  newTask(taskId: string, userId?: string): Promise<string>;
}

export async function taskActivitiesOn(db: SqlClient): Promise<TaskActivitiesWorld> {
  const config = loadConfig({
    AUTH_TOKENS: 'gateway:task-activities-test-token',
    GOVERNANCE_DIR: path.resolve(__dirname, '../../governance'),
    DATA_DIR: path.resolve(__dirname, '../../.data/test'),
    LOG_LEVEL: 'silent',
  });
  const services = await createServices(config, { db });
  return {
    services,
    activities: createTaskActivities(activityDeps(services)),
    async newTask(taskId, userId = 'alice') {
      const now = Date.now();
      await services.tasks.create({
        taskId,
        tenant: 'default',
        userId,
        agentId: 'coding-agent',
        workflowId: taskWorkflowId(taskId),
        createdAt: new Date(now).toISOString(),
        expiresAt: new Date(now + 3_600_000).toISOString(),
      });
      return taskId;
    },
  };
}
