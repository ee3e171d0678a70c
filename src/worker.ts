// The Temporal worker: runs the task workflows and their activities.
// `node dist/src/worker.js` runs a worker alone (scale-out next to API replicas).
import { NativeConnection, Worker, type WorkerOptions } from '@temporalio/worker';
import { createActivities } from '../activities';
import type { Services } from './services';

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
    ...(extra.workflowBundle ? {} : { workflowsPath: require.resolve('../workflows') }),
    activities: createActivities({ decisions: services.decisions, tasks: services.tasks, traces: services.traces, db: services.db }),
    // Sized for thousands of concurrent tasks: workflows are mostly idle, activities are short.
    maxCachedWorkflows: 2000,
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
