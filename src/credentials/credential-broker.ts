// Credential brokering (zero standing privileges): an allowed call gets an opaque reference bound
// to task + agent + tool; the gateway exchanges it for the real credential at call time. The
// reference is derived (HMAC) from a random id, so only its hash is stored and it dies with the task.
import { createHash, createHmac, randomBytes } from 'node:crypto';
import type { SqlClient } from '../db/sql';
import type { SecretStore } from '../vault/secret-store';

export interface Resolved {
  credential: Record<string, unknown>;
  expiresAt: string;
}

export type ResolveFailure = { status: 404 | 410; code: string; message: string };

interface RefRow {
  ref_id: string;
  task_id: string;
  tool_id: string;
  secret_key: string | null;
  expires_at: Date | string;
  revoked_at: Date | string | null;
  status: string;
}

const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');

export class CredentialBroker {
  constructor(
    private readonly db: SqlClient,
    private readonly secrets: SecretStore,
    private readonly hmacKey: Buffer,
  ) {}

  /** The reference handed to the gateway; recomputable from its id, never stored. */
  refFor(refId: string): string {
    return `cr_${refId}.${createHmac('sha256', this.hmacKey).update(refId).digest('base64url')}`;
  }

  /** A fresh reference id, for a caller that records it (e.g. in a trace) before the reference is minted. */
  newRefId(): string {
    return randomBytes(16).toString('base64url');
  }

  /** One reference per (task, tool) grant, expiring with the task; `refId` names it when the caller chose it. */
  async mint(
    tx: SqlClient,
    g: { taskId: string; agentId: string; toolId: string; appId: string; secretKey: string; expiresAt: string; refId?: string },
  ): Promise<string> {
    const [existing] = await tx.query<{ ref_id: string }>(
      'select ref_id from credential_refs where task_id = $1 and tool_id = $2 and revoked_at is null',
      [g.taskId, g.toolId],
    );
    if (existing) return existing.ref_id;
    const refId = g.refId ?? this.newRefId();
    await tx.query(
      `insert into credential_refs (ref_hash, ref_id, task_id, agent_id, tool_id, app_id, secret_key, expires_at)
       values ($1, $2, $3, $4, $5, $6, $7, $8)`,
      [sha256(this.refFor(refId)), refId, g.taskId, g.agentId, g.toolId, g.appId, g.secretKey, g.expiresAt],
    );
    return refId;
  }

  async liveRefId(taskId: string, toolId: string): Promise<string | undefined> {
    const [row] = await this.db.query<{ ref_id: string }>(
      'select ref_id from credential_refs where task_id = $1 and tool_id = $2 and revoked_at is null and expires_at > now()',
      [taskId, toolId],
    );
    return row?.ref_id;
  }

  async revokeTask(tx: SqlClient, taskId: string): Promise<void> {
    await tx.query('update credential_refs set revoked_at = now() where task_id = $1 and revoked_at is null', [taskId]);
  }

  /** The credential behind a reference, read from the secret store now; 404/410 never carry a secret. */
  async resolve(ref: string, toolId?: string): Promise<Resolved | ResolveFailure> {
    const [row] = await this.db.query<RefRow>(
      `select r.ref_id, r.task_id, r.tool_id, r.secret_key, r.expires_at, r.revoked_at, t.status
       from credential_refs r join tasks t on t.task_id = r.task_id where r.ref_hash = $1`,
      [sha256(ref)],
    );
    if (!row || (toolId && toolId !== row.tool_id)) return { status: 404, code: 'credential_ref_unknown', message: 'No such credential reference for this tool.' };
    if (row.revoked_at || row.status !== 'active') return { status: 410, code: 'credential_ref_revoked', message: 'The task ended; its credentials are gone.' };
    if (new Date(row.expires_at).getTime() <= Date.now()) return { status: 410, code: 'credential_ref_expired', message: 'The credential reference expired.' };
    const credential = row.secret_key ? await this.secrets.get(row.secret_key) : undefined;
    if (!credential) return { status: 410, code: 'credential_gone', message: 'The credential no longer exists.' };
    return { credential, expiresAt: new Date(row.expires_at).toISOString() };
  }
}
