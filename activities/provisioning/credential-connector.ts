// Apps whose access is a credential rather than an account: a random secret scoped to one task
// and entitlement, minted into the secret store on grant and destroyed on revoke.
import { randomBytes } from 'node:crypto';
import type { App } from '../../src/policy/bundle';
import type { SecretStore } from '../../src/vault/secret-store';
import { change, type Connector, type ConnectorHealth, type EntitlementRequest, type ProvisioningChange } from './connector';

/** The secret-store key of the per-task secret; the decision service hands out references to it. */
export function credentialKey(taskId: string, appId: string, entitlementId?: string): string {
  return `tasks/${taskId}/apps/${appId}/credentials/${entitlementId ?? 'default'}`;
}

export class CredentialConnector implements Connector {
  /** The secret's key is per task: whatever is there is the task's own, no record needed. */
  readonly observesBeforeChange = false;

  constructor(
    private readonly app: App,
    private readonly secrets: SecretStore,
  ) {}

  // There is no account: the task itself is the holder of the credential.
  async ensureAccount(req: { taskId: string }) {
    const accountId = await this.findAccount(req);
    return { accountId, change: change('account_found', this.app.id, { accountId, detail: 'credential app: no account to provision' }) };
  }

  async findAccount(req: { taskId: string }): Promise<string> {
    return `task:${req.taskId}`;
  }

  async deactivateAccount(req: { taskId: string; accountId: string }): Promise<ProvisioningChange> {
    return change('account_found', this.app.id, { accountId: req.accountId, detail: 'credential app: no account to deactivate' });
  }

  /** The key is per task, so a secret already there was minted by an earlier attempt of this grant. */
  async grantEntitlement(req: EntitlementRequest): Promise<ProvisioningChange> {
    const key = credentialKey(req.taskId, this.app.id, req.entitlement.id);
    const fields = { accountId: req.accountId, entitlementId: req.entitlement.id };
    if (await this.secrets.get(key)) return change('credential_minted', this.app.id, { ...fields, detail: 'minted by an earlier attempt' });
    await this.secrets.put(key, {
      type: 'bearer',
      token: randomBytes(32).toString('base64url'),
      scope: req.entitlement.id,
      taskId: req.taskId,
      appId: this.app.id,
      issuedAt: new Date().toISOString(),
    });
    return change('credential_minted', this.app.id, fields);
  }

  async revokeEntitlement(req: EntitlementRequest): Promise<ProvisioningChange> {
    const key = credentialKey(req.taskId, this.app.id, req.entitlement.id);
    const existed = (await this.secrets.get(key)) !== undefined;
    await this.secrets.delete(key);
    return change('credential_destroyed', this.app.id, {
      accountId: req.accountId,
      entitlementId: req.entitlement.id,
      detail: existed ? undefined : 'nothing left to destroy',
    });
  }

  async health(): Promise<ConnectorHealth> {
    return { ok: true, latencyMs: 0 };
  }
}
