// The one place that reads process.env: parsed and validated once at boot into a typed object.
import { createHash } from 'node:crypto';
import path from 'node:path';
import { z } from 'zod';

export type Role = 'gateway' | 'admin' | 'scim';
const ROLES: readonly Role[] = ['gateway', 'admin', 'scim'];

export interface TokenHash {
  role: Role;
  sha256: string;
}

export interface Config {
  host: string;
  port: number;
  tenant: string;
  dataDir: string;
  databaseUrl?: string;
  governanceDir: string;
  temporal: { address?: string; namespace: string; taskQueue: string; uiPort: number; maxCachedWorkflows: number };
  tokens: TokenHash[];
  hrWebhookSecrets: string[];
  slack: { signingSecret?: string; botToken?: string; apiUrl?: string; appToken?: string };
  approvalSigningKey?: string;
  vault: { keyBase64?: string; keyFile: string };
  otlpEndpoint?: string;
  logLevel: string;
  /** Default TTL of a task when the gateway gives none. */
  defaultTaskTtlSeconds: number;
}

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n  ${problems.join('\n  ')}`);
  }
}

export function hashToken(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

/** `role:token,role:token` → hashes only; the plain tokens are not kept. */
function parseTokens(raw: string | undefined, hashed: string | undefined, problems: string[]): TokenHash[] {
  const out: TokenHash[] = [];
  const parse = (value: string, name: string, toHash: (s: string) => string) => {
    for (const item of value.split(',').map((s) => s.trim()).filter(Boolean)) {
      const i = item.indexOf(':');
      const role = item.slice(0, i) as Role;
      const secret = item.slice(i + 1);
      if (i < 0 || !ROLES.includes(role) || !secret) {
        problems.push(`${name}=${name === 'AUTH_TOKENS' ? '<redacted>' : value}: each item must be role:value with role one of ${ROLES.join(', ')}`);
        return;
      }
      if (name === 'AUTH_TOKEN_HASHES' && !/^[0-9a-fA-F]{64}$/.test(secret)) {
        problems.push(`AUTH_TOKEN_HASHES=${value}: the ${role} hash must be 64 hex characters (SHA-256 of the token)`);
        return;
      }
      if (name === 'AUTH_TOKENS' && secret.length < 16) {
        problems.push(`AUTH_TOKENS=<redacted>: the ${role} token is shorter than 16 characters`);
        return;
      }
      out.push({ role, sha256: toHash(secret) });
    }
  };
  if (raw) parse(raw, 'AUTH_TOKENS', hashToken);
  if (hashed) parse(hashed, 'AUTH_TOKEN_HASHES', (h) => h.toLowerCase());
  return out;
}

const optional = z.string().trim().min(1).optional();

const schema = z.object({
  HOST: z.string().default('127.0.0.1'),
  PORT: z.coerce.number().int().min(0).max(65535).default(8080),
  TENANT: z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}$/, 'lowercase letters, digits and dashes').default('default'),
  DATA_DIR: z.string().default('.data'),
  DATABASE_URL: z
    .string()
    .regex(/^postgres(ql)?:\/\//, 'must be a postgres:// or postgresql:// URL')
    .optional(),
  GOVERNANCE_DIR: z.string().default('governance'),
  TEMPORAL_ADDRESS: z
    .string()
    .regex(/^[^\s:]+:\d+$/, 'must be host:port')
    .optional(),
  TEMPORAL_NAMESPACE: z.string().min(1).default('default'),
  TEMPORAL_TASK_QUEUE: z.string().min(1).default('agent-tasks'),
  TEMPORAL_UI_PORT: z.coerce.number().int().min(1).max(65535).default(8233),
  TEMPORAL_MAX_CACHED_WORKFLOWS: z.coerce.number().int().min(10).max(100_000).default(2000),
  AUTH_TOKENS: optional,
  AUTH_TOKEN_HASHES: optional,
  HR_WEBHOOK_SECRET: optional,
  SLACK_SIGNING_SECRET: optional,
  SLACK_BOT_TOKEN: optional,
  SLACK_API_URL: z.string().url().optional(),
  SLACK_APP_TOKEN: optional,
  APPROVAL_SIGNING_KEY: z.string().min(32, 'must be at least 32 characters').optional(),
  VAULT_KEY: optional,
  VAULT_KEY_FILE: optional,
  OTEL_EXPORTER_OTLP_ENDPOINT: z.string().url().optional(),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  TASK_DEFAULT_TTL_SECONDS: z.coerce.number().int().min(1).max(30 * 86400).default(3600),
});

export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  const parsed = schema.safeParse(env);
  const problems: string[] = [];
  if (!parsed.success) {
    for (const issue of parsed.error.issues) {
      const name = String(issue.path[0]);
      const shown = /TOKEN|SECRET|KEY$/.test(name) ? '<redacted>' : env[name];
      problems.push(`${name}=${shown ?? ''}: ${issue.message}`);
    }
    throw new ConfigError(problems);
  }
  const e = parsed.data;
  const tokens = parseTokens(e.AUTH_TOKENS, e.AUTH_TOKEN_HASHES, problems);
  const hrWebhookSecrets = (e.HR_WEBHOOK_SECRET ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  for (const s of hrWebhookSecrets) {
    if (!/^whsec_[A-Za-z0-9+/=]+$/.test(s)) problems.push('HR_WEBHOOK_SECRET=<redacted>: each secret must look like whsec_<base64>');
  }
  if (problems.length) throw new ConfigError(problems);
  const dataDir = path.resolve(e.DATA_DIR);
  return {
    host: e.HOST,
    port: e.PORT,
    tenant: e.TENANT,
    dataDir,
    databaseUrl: e.DATABASE_URL,
    governanceDir: path.resolve(e.GOVERNANCE_DIR),
    temporal: {
      address: e.TEMPORAL_ADDRESS,
      namespace: e.TEMPORAL_NAMESPACE,
      taskQueue: e.TEMPORAL_TASK_QUEUE,
      uiPort: e.TEMPORAL_UI_PORT,
      maxCachedWorkflows: e.TEMPORAL_MAX_CACHED_WORKFLOWS,
    },
    tokens,
    hrWebhookSecrets,
    slack: { signingSecret: e.SLACK_SIGNING_SECRET, botToken: e.SLACK_BOT_TOKEN, apiUrl: e.SLACK_API_URL, appToken: e.SLACK_APP_TOKEN },
    approvalSigningKey: e.APPROVAL_SIGNING_KEY,
    vault: { keyBase64: e.VAULT_KEY, keyFile: e.VAULT_KEY_FILE ?? path.join(dataDir, 'vault.key') },
    otlpEndpoint: e.OTEL_EXPORTER_OTLP_ENDPOINT,
    logLevel: e.LOG_LEVEL,
    defaultTaskTtlSeconds: e.TASK_DEFAULT_TTL_SECONDS,
  };
}
