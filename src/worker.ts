// The Temporal worker: runs the task workflows and their activities.
// `node dist/src/worker.js` runs a worker alone (scale-out next to API replicas).
import { NativeConnection, Worker, type WorkerOptions } from '@temporalio/worker';
import { createActivities, type ActivityDeps } from '../activities';
import type { Services } from './services';
import { slackWebClient } from './slack/slack-web-client';
import { workflowCode } from './temporal/workflow-bundle';

/** The activities' dependencies, from the process's services. */
export function activityDeps(s: Services): ActivityDeps {
  return {
    db: s.db,
    decisions: s.decisions,
    tasks: s.tasks,
    provisioned: s.provisioned,
    approvals: s.approvals,
    traces: s.traces,
    credentials: s.credentials,
    metrics: s.metrics,
    directory: s.directory,
    policy: s.policy,
    slack: slackWebClient(s.config.slack),
    provisioning: { apps: () => s.policy.active(), secrets: s.secrets, people: s.directory, db: s.db },
    identity: { db: s.db, tasks: s.tasks, traces: s.traces, directory: s.directory, policy: s.policy },
  };
}

export async function createWorker(
  services: Services,
  connection: NativeConnection,
  extra: Partial<WorkerOptions> = {},
): Promise<Worker> {
  const { config } = services;
  return Worker.create({
    connection,
    namespace: config.temporal.namespace,
    taskQueue: config.temporal.taskQueue,
    // A plugin (telemetry's) puts modules of its own into the bundle: with one, bundle at start.
    ...(extra.workflowBundle ? {} : workflowCode({ prebuilt: !extra.plugins?.length })),
    activities: createActivities(activityDeps(services)),
    // Sized for thousands of concurrent tasks: workflows are mostly idle, activities are short. A
    // cached workflow costs ~0.5 MiB (measured, npm run bench -- tasks); one not cached is replayed
    // from its history when it next has work, which in-context calls never give it.
    maxCachedWorkflows: config.temporal.maxCachedWorkflows,
    maxConcurrentWorkflowTaskExecutions: 100,
    maxConcurrentActivityTaskExecutions: 200,
    ...extra,
  });
}

async function main(): Promise<void> {
  const { loadConfig } = await import('./config/config');
  const { createServices } = await import('./services');
  const config = loadConfig();
  if (!config.temporal.address) throw new Error('TEMPORAL_ADDRESS=: required to run a worker on its own');
  (await import('./temporal/runtime')).installTemporalRuntime(config.logLevel);
  const services = await createServices(config);
  const connection = await NativeConnection.connect({ address: config.temporal.address });
  const worker = await createWorker(services, connection);
  await worker.run();
  await connection.close();
  await services.close();
}

if (require.main === module) {
  main().catch((err) => {
    console.error(err instanceof Error ? err.message : err);
    process.exit(1);
  });
}
