// `npm start`: the whole orchestrator in one process on the embedded defaults — a Temporal dev
// server (unless TEMPORAL_ADDRESS), the worker, the API, and the trace store (PGlite under .data/
// unless DATABASE_URL). Ctrl-C stops everything cleanly.
import 'reflect-metadata';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection } from '@temporalio/worker';
import { ConfigError, loadConfig } from './config/config';
import { createApi } from './main';
import { createServices } from './services';
import { startDevServer, type DevServer } from './temporal/dev-server';
import { createWorker } from './worker';

const say = (line: string) => process.stdout.write(`${line}\n`);

/** Local runs without AUTH_TOKENS get random tokens, kept (0600) under .data/ so curl can use them. */
function devTokens(dataDir: string): { env: string; file: string; tokens: Record<string, string> } {
  const file = path.join(dataDir, 'dev-tokens.json');
  let tokens: Record<string, string>;
  if (fs.existsSync(file)) tokens = JSON.parse(fs.readFileSync(file, 'utf8'));
  else {
    tokens = Object.fromEntries(['gateway', 'admin', 'scim'].map((r) => [r, randomBytes(24).toString('base64url')]));
    fs.writeFileSync(file, JSON.stringify(tokens, null, 2), { mode: 0o600 });
  }
  return { env: Object.entries(tokens).map(([r, t]) => `${r}:${t}`).join(','), file, tokens };
}

async function main(): Promise<void> {
  const dataDir = path.resolve(process.env.DATA_DIR ?? '.data');
  fs.mkdirSync(dataDir, { recursive: true });
  const env = { ...process.env };
  let tokenFile: string | undefined;
  if (!env.AUTH_TOKENS && !env.AUTH_TOKEN_HASHES) {
    const dev = devTokens(dataDir);
    env.AUTH_TOKENS = dev.env;
    tokenFile = dev.file;
  }
  const config = loadConfig(env);

  let devServer: DevServer | undefined;
  let address = config.temporal.address;
  if (!address) {
    say('Starting the Temporal dev server (.data/temporal.sqlite)...');
    devServer = await startDevServer({
      namespace: config.temporal.namespace,
      dbFile: path.join(dataDir, 'temporal.sqlite'),
      port: 7233,
      uiPort: config.temporal.uiPort,
      headless: false,
      log: (line) => say(line),
    });
    address = devServer.address;
  }

  const services = await createServices(config);
  const nativeConnection = await NativeConnection.connect({ address });
  const worker = await createWorker(services, nativeConnection);
  const workerRun = worker.run();
  const connection = await Connection.connect({ address });
  const client = new Client({ connection, namespace: config.temporal.namespace });
  const api = await createApi(services, client);
  await api.listen(config.port, config.host);

  const base = `http://${config.host === '0.0.0.0' ? '127.0.0.1' : config.host}:${config.port}`;
  say('');
  say(`Agent access orchestrator is up (policy ${services.policy.active().version.slice(0, 19)}…)`);
  say(`  API          ${base}   (health: ${base}/readyz, metrics: ${base}/metrics)`);
  say(`  Temporal     ${address}${devServer?.uiUrl ? `   UI: ${devServer.uiUrl}` : ''}`);
  say(`  Trace store  ${config.databaseUrl ? 'PostgreSQL (DATABASE_URL)' : `PGlite at ${path.join(config.dataDir, 'pglite')}`}`);
  if (tokenFile) say(`  Tokens       ${tokenFile}   e.g. TOKEN=$(node -p "require('${tokenFile}').gateway")`);
  say('Ctrl-C stops everything.');

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    say(`\n${signal}: stopping...`);
    await api.close();
    worker.shutdown();
    await workerRun.catch(() => undefined);
    await connection.close();
    await nativeConnection.close();
    await services.close();
    await devServer?.stop();
    say('stopped.');
    process.exit(0);
  };
  process.on('SIGINT', () => void stop('SIGINT'));
  process.on('SIGTERM', () => void stop('SIGTERM'));
  workerRun.catch(async (err) => {
    console.error('worker failed:', err);
    await stop('worker failure');
  });
}

main().catch((err) => {
  console.error(err instanceof ConfigError ? err.message : err);
  process.exit(1);
});
