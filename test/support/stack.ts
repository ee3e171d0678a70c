// The whole orchestrator for a test: real database, a real worker on the run's Temporal dev
// server (own task queue), and the NestJS API listening on a loopback port.
import 'reflect-metadata';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { Client, Connection } from '@temporalio/client';
import { bundleWorkflowCode, NativeConnection, type WorkflowBundle, type Worker } from '@temporalio/worker';
import { loadConfig } from '../../src/config/config';
import { createApi } from '../../src/main';
import { createServices, type Services } from '../../src/services';
import { createWorker } from '../../src/worker';
import { testDatabase, type Engine, type TestDatabase } from './databases';

export const TOKENS = {
  gateway: 'gateway-token-for-tests-0001',
  admin: 'admin-token-for-tests-00000001',
  scim: 'scim-token-for-tests-000000001',
};

let bundle: Promise<WorkflowBundle> | undefined;
/** The workflow bundle, built once per test file (webpack takes seconds). */
export function workflowBundle(): Promise<WorkflowBundle> {
  bundle ??= bundleWorkflowCode({ workflowsPath: require.resolve('../../workflows'), logger: quietLogger });
  return bundle;
}
const quietLogger = { log() {}, trace() {}, debug() {}, info() {}, warn() {}, error: (m: string) => console.error(m) };

/**
 * Another task workflow under the same name: `altered` (test/histories/altered-workflow.ts) fails
 * any replay as nondeterministic; `failing` (test/support/failing-workflow.ts) fails every
 * workflow task.
 */
export function otherWorkflowBundle(which: 'altered' | 'failing'): Promise<WorkflowBundle> {
  const file = which === 'altered' ? '../histories/altered-workflow' : './failing-workflow';
  return bundleWorkflowCode({ workflowsPath: require.resolve(file), logger: { ...quietLogger, error() {} } });
}

/** Requests to an API at `baseUrl` (the stack's, or another replica's), as the gateway unless a token is given. */
export function requestTo(baseUrl: string): Stack['request'] {
  return async (method, url, o = {}) => {
    const token = o.token === undefined ? TOKENS.gateway : o.token;
    const headers: Record<string, string> = { ...(o.headers ?? {}) };
    if (token) headers.authorization = `Bearer ${token}`;
    let body: string | undefined;
    if (o.body !== undefined) {
      headers['content-type'] ??= 'application/json';
      body = typeof o.body === 'string' ? o.body : JSON.stringify(o.body);
    }
    const res = await fetch(baseUrl + url, { method, headers, body });
    const text = await res.text();
    let parsed: unknown = text;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      /* not JSON: keep the text */
    }
    return { status: res.status, headers: res.headers, body: parsed };
  };
}

export interface Stack {
  baseUrl: string;
  services: Services;
  client: Client;
  taskQueue: string;
  database: TestDatabase;
  /** Starts a worker (the stack starts one; tests that kill workers start their own). */
  startWorker(): Promise<{ worker: Worker; stop(): Promise<void> }>;
  stopWorker(): Promise<void>;
  request(method: string, url: string, opts?: { body?: unknown; token?: string | null; headers?: Record<string, string> }): Promise<{ status: number; headers: Headers; body: any }>;
  stop(): Promise<void>;
}

export async function startStack(opts: { engine?: Engine; env?: Record<string, string>; worker?: boolean } = {}): Promise<Stack> {
  const address = process.env.TEMPORAL_ADDRESS;
  if (!address) throw new Error('TEMPORAL_ADDRESS is not set: the jest global setup starts the dev server');
  const database = await testDatabase(opts.engine ?? 'pglite');
  const taskQueue = `test-${randomBytes(6).toString('hex')}`;
  const config = loadConfig({
    AUTH_TOKENS: Object.entries(TOKENS).map(([r, t]) => `${r}:${t}`).join(','),
    TEMPORAL_ADDRESS: address,
    TEMPORAL_TASK_QUEUE: taskQueue,
    GOVERNANCE_DIR: path.resolve(__dirname, '../../governance'),
    DATA_DIR: path.resolve(__dirname, '../../.data/test'),
    LOG_LEVEL: 'silent',
    PORT: '0',
    ...opts.env,
  });
  const services = await createServices(config, { db: database.db });
  const connection = await Connection.connect({ address });
  // With OpenTelemetry on, the worker bundles its workflows itself (the plugin adds interceptors to the bundle).
  const plugins = services.telemetry ? [services.telemetry.temporalPlugin()] : [];
  const client = new Client({ connection, namespace: config.temporal.namespace, plugins });

  let running: { worker: Worker; stop(): Promise<void> } | undefined;
  const startWorker = async () => {
    const nc = await NativeConnection.connect({ address });
    const worker = await createWorker(services, nc, plugins.length ? { plugins } : { workflowBundle: await workflowBundle() });
    const run = worker.run();
    const handle = {
      worker,
      async stop() {
        if (worker.getState() === 'RUNNING') worker.shutdown();
        await run.catch(() => undefined);
        await nc.close();
      },
    };
    running = handle;
    return handle;
  };
  if (opts.worker !== false) await startWorker();

  const app: NestFastifyApplication = await createApi(services, client);
  await app.listen(0, '127.0.0.1');
  const baseUrl = (await app.getUrl()).replace('[::1]', '127.0.0.1');

  return {
    baseUrl,
    services,
    client,
    taskQueue,
    database,
    startWorker,
    async stopWorker() {
      await running?.stop();
      running = undefined;
    },
    request: requestTo(baseUrl),
    async stop() {
      await app.close();
      await running?.stop();
      await connection.close();
      await services.close();
      await database.drop();
    },
  };
}
