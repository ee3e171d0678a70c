// The process's object graph, built once from the config and shared by the API and the worker.
import { createHmac } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { ApprovalRepository } from './approvals/approval-repository';
import { serviceCheckpointSigner, type CheckpointSigner } from './audit/checkpoints';
import { TraceStore } from './audit/trace-store';
import type { Config } from './config/config';
import { makePrivateDir } from './config/data-dir';
import { CredentialBroker } from './credentials/credential-broker';
import { openDatabase } from './db/open-database';
import { PgliteClient } from './db/pglite-client';
import type { SqlClient } from './db/sql';
import { DecisionService } from './decisions/decision-service';
import { DirectoryRepository, type SeedAgent, type SeedPerson } from './directory/directory-repository';
import { Metrics } from './health/metrics';
import { createTelemetry, type Telemetry } from './telemetry/otel';
import { PolicyStore } from './policy/policy-store';
import { LiveProjection } from './projection/live-projection';
import { ProvisionedAccessRepository, TaskRepository } from './tasks/task-repository';
import { EncryptedSecretStore } from './vault/encrypted-secret-store';
import { loadMasterKey } from './vault/master-key';
import type { SecretStore } from './vault/secret-store';

export interface Services {
  config: Config;
  db: SqlClient;
  metrics: Metrics;
  policy: PolicyStore;
  directory: DirectoryRepository;
  tasks: TaskRepository;
  /** Tasks, people and agents in memory, forgotten when the database says they changed. */
  projection: LiveProjection;
  provisioned: ProvisionedAccessRepository;
  approvals: ApprovalRepository;
  traces: TraceStore;
  checkpoints: CheckpointSigner;
  secrets: SecretStore;
  credentials: CredentialBroker;
  decisions: DecisionService;
  /** OTLP export, when OTEL_EXPORTER_OTLP_ENDPOINT is set. */
  telemetry?: Telemetry;
  close(): Promise<void>;
}

export async function createServices(config: Config, opts: { db?: SqlClient; secrets?: SecretStore } = {}): Promise<Services> {
  makePrivateDir(config.dataDir);
  const db = opts.db ?? (await openDatabase({ databaseUrl: config.databaseUrl, dataDir: config.dataDir }));
  const masterKey = loadMasterKey({ keyBase64: config.vault.keyBase64, keyFile: config.vault.keyFile });
  const secrets = opts.secrets ?? new EncryptedSecretStore(db, masterKey);
  // Separate keys per purpose, derived from the one master key.
  const credentials = new CredentialBroker(db, secrets, createHmac('sha256', masterKey).update('credential-references').digest());
  const policy = new PolicyStore(db, config.governanceDir);
  await policy.reload();
  const directory = new DirectoryRepository(db);
  await seedDirectory(directory, config.governanceDir);
  const tasks = new TaskRepository(db);
  const projection = new LiveProjection(db, { view: (id) => tasks.view(id), user: (id) => directory.user(id), agent: (id) => directory.agent(id) });
  await projection.start();
  const traces = new TraceStore(db, config.tenant);
  const metrics = new Metrics();
  metrics.observeDatabase(db);
  if (db instanceof PgliteClient) metrics.observeDatabaseUpkeep(db);
  metrics.observeProjection(projection);
  metrics.observeTraceCommits(traces);
  const decisions = new DecisionService({ policy, people: projection, directory, tasks, traces, credentials, secrets });
  const refresh = setInterval(() => void policy.refresh().catch(() => undefined), 1000);
  refresh.unref();
  const checkpoints = serviceCheckpointSigner(masterKey);
  // A signed chain head every minute: a tail truncated after it is detectable by verify.
  const checkpointing = setInterval(() => void traces.checkpoint(checkpoints).catch(() => undefined), 60_000);
  checkpointing.unref();
  const telemetry = config.otlpEndpoint ? createTelemetry({ endpoint: config.otlpEndpoint }) : undefined;
  if (telemetry) traces.appended.on('record', (r) => telemetry.exportDecision(r));
  return {
    config,
    db,
    metrics,
    policy,
    directory,
    tasks,
    projection,
    provisioned: new ProvisionedAccessRepository(db),
    approvals: new ApprovalRepository(db),
    traces,
    checkpoints,
    secrets,
    credentials,
    decisions,
    telemetry,
    async close() {
      await telemetry?.shutdown();
      clearInterval(refresh);
      clearInterval(checkpointing);
      await projection.stop();
      if (!opts.db) await db.close();
    },
  };
}

/** The example bundle ships people and agents (governance/directory.yaml) for an empty directory. */
async function seedDirectory(directory: DirectoryRepository, dir: string): Promise<void> {
  const file = path.join(dir, 'directory.yaml');
  if (!fs.existsSync(file)) return;
  const seed = parseYaml(fs.readFileSync(file, 'utf8')) as { people?: SeedPerson[]; agents?: SeedAgent[] };
  await directory.seed(seed.people ?? [], seed.agents ?? []);
}
