// The whole orchestrator in one process: a Temporal dev server (unless TEMPORAL_ADDRESS), the
// worker, the API and the trace store. Used by `npm start` and by the benchmark.
import 'reflect-metadata';
import path from 'node:path';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection } from '@temporalio/worker';
import type { Config } from './config/config';
import { createApi } from './main';
import { createServices, type Services } from './services';
import { startDevServer, type DevServer } from './temporal/dev-server';
import { installTemporalRuntime } from './temporal/runtime';
import { createWorker } from './worker';

export interface Orchestrator {
  baseUrl: string;
  temporalAddress: string;
  temporalUiUrl?: string;
  /** The dev server's process id, when this process started one. */
  temporalPid?: number;
  services: Services;
  api: NestFastifyApplication;
  stop(): Promise<void>;
}

export async function runOrchestrator(
  config: Config,
  opts: { devServerDbFile?: string; devServerPort?: number; log?: (line: string) => void } = {},
): Promise<Orchestrator> {
  const log = opts.log ?? (() => undefined);
  installTemporalRuntime(config.logLevel);
  let devServer: DevServer | undefined;
  let address = config.temporal.address;
  if (!address) {
    log(`Starting the Temporal dev server${opts.devServerDbFile ? ` (${path.relative(process.cwd(), opts.devServerDbFile)})` : ''}...`);
    devServer = await startDevServer({
      namespace: config.temporal.namespace,
      dbFile: opts.devServerDbFile,
      port: opts.devServerPort,
      uiPort: config.temporal.uiPort,
      headless: !opts.devServerDbFile,
      log,
    });
    address = devServer.address;
  }
  const services = await createServices(config);
  const plugins = services.telemetry ? [services.telemetry.temporalPlugin()] : [];
  const nativeConnection = await NativeConnection.connect({ address });
  const worker = await createWorker(services, nativeConnection, { plugins });
  const workerRun = worker.run();
  const connection = await Connection.connect({ address });
  const client = new Client({ connection, namespace: config.temporal.namespace, plugins });
  const api = await createApi(services, client);
  await api.listen(config.port, config.host);
  const url = new URL(await api.getUrl());
  if (url.hostname === '[::1]' || url.hostname === '0.0.0.0') url.hostname = '127.0.0.1';

  return {
    baseUrl: url.origin,
    temporalAddress: address,
    temporalUiUrl: devServer?.uiUrl,
    temporalPid: devServer?.pid,
    services,
    api,
    async stop() {
      await api.close();
      // The SDK's own SIGINT/SIGTERM handler may already be draining the worker.
      if (worker.getState() === 'RUNNING') worker.shutdown();
      await workerRun.catch(() => undefined);
      await connection.close();
      await nativeConnection.close();
      await services.close();
      await devServer?.stop();
    },
  };
}
