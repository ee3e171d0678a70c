// `npm start`: the whole orchestrator in one process on the embedded defaults — a Temporal dev
// server (unless TEMPORAL_ADDRESS), the worker, the API, and the trace store (PGlite under .data/
// unless DATABASE_URL). Ctrl-C stops everything cleanly.
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { ConfigError, loadConfig } from './config/config';
import { makePrivateDir } from './config/data-dir';
import { runOrchestrator } from './orchestrator';

const say = (line: string) => process.stdout.write(`${line}\n`);

/** Local runs without AUTH_TOKENS get random tokens, kept (0600) under .data/ so curl can use them. */
function devTokens(dataDir: string): { env: string; file: string } {
  const file = path.join(dataDir, 'dev-tokens.json');
  let tokens: Record<string, string>;
  if (fs.existsSync(file)) tokens = JSON.parse(fs.readFileSync(file, 'utf8'));
  else {
    tokens = Object.fromEntries(['gateway', 'admin', 'scim'].map((r) => [r, randomBytes(24).toString('base64url')]));
    fs.writeFileSync(file, JSON.stringify(tokens, null, 2), { mode: 0o600 });
  }
  return { env: Object.entries(tokens).map(([r, t]) => `${r}:${t}`).join(','), file };
}

async function main(): Promise<void> {
  const dataDir = path.resolve(process.env.DATA_DIR ?? '.data');
  makePrivateDir(dataDir);
  const env = { ...process.env };
  let tokenFile: string | undefined;
  if (!env.AUTH_TOKENS && !env.AUTH_TOKEN_HASHES) {
    const dev = devTokens(dataDir);
    env.AUTH_TOKENS = dev.env;
    tokenFile = dev.file;
  }
  const config = loadConfig(env);
  const o = await runOrchestrator(config, { devServerDbFile: path.join(dataDir, 'temporal.sqlite'), devServerPort: 7233, log: say });

  say('');
  say(`Agent access orchestrator is up (policy ${o.services.policy.active().version.slice(0, 19)}…)`);
  say(`  API          ${o.baseUrl}   (health: ${o.baseUrl}/readyz, metrics: ${o.baseUrl}/metrics)`);
  say(`  Temporal     ${o.temporalAddress}${o.temporalUiUrl ? `   UI: ${o.temporalUiUrl}` : ''}`);
  say(`  Trace store  ${config.databaseUrl ? 'PostgreSQL (DATABASE_URL)' : `PGlite at ${path.join(config.dataDir, 'pglite')}`}`);
  if (tokenFile) say(`  Tokens       ${tokenFile}   e.g. TOKEN=$(node -p "require('${tokenFile}').gateway")`);
  say('Ctrl-C stops everything.');

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    say(`\n${signal}: stopping...`);
    await o.stop();
    say('stopped.');
    process.exit(0);
  };
  process.on('SIGINT', () => void stop('SIGINT'));
  process.on('SIGTERM', () => void stop('SIGTERM'));
}

main().catch((err) => {
  console.error(err instanceof ConfigError ? err.message : err);
  process.exit(1);
});
