// The port every target app's provisioning implements, and the changes it reports. Each call is
// idempotent: a retry after a timeout whose outcome is unknown converges on the same state.
import { ApplicationFailure } from '@temporalio/common';
import type { Entitlement } from '../../src/policy/bundle';
import type { DirectoryPerson } from '../../src/directory/person';

export type ProvisioningChangeKind =
  | 'account_created'
  | 'account_found'
  | 'entitlement_granted'
  | 'entitlement_already_present'
  | 'entitlement_revoked'
  | 'entitlement_already_absent'
  | 'account_deactivated'
  | 'account_already_inactive'
  // A failed saga's account another task of the person builds on: kept for the task's end.
  | 'account_kept'
  | 'credential_minted'
  | 'credential_destroyed';

/** One thing a provisioning step did (or found already done) in a target app; goes into the trace. */
export interface ProvisioningChange {
  kind: ProvisioningChangeKind;
  appId: string;
  accountId?: string;
  entitlementId?: string;
  detail?: string;
  at: string;
}

/**
 * Called by a connector once it has looked at the target and before it changes anything: `present`
 * says whether the account (active) or membership the step adds or removes is there now.
 */
export type Observe = (present: boolean, accountId?: string) => Promise<void>;

export interface AccountRequest {
  taskId: string;
  person: DirectoryPerson;
}

export interface EntitlementRequest {
  taskId: string;
  accountId: string;
  entitlement: Entitlement;
}

export interface ConnectorHealth {
  ok: boolean;
  latencyMs: number;
  detail?: string;
}

export interface Connector {
  /**
   * Whether every change is preceded by `observe` (so recorded in the journal first). If so, an undo
   * with nothing recorded for the task has nothing of the task's to remove.
   */
  readonly observesBeforeChange: boolean;
  /** Finds the person's account, or creates (or reactivates) it. */
  ensureAccount(req: AccountRequest, observe?: Observe): Promise<{ accountId: string; change: ProvisioningChange }>;
  grantEntitlement(req: EntitlementRequest, observe?: Observe): Promise<ProvisioningChange>;
  revokeEntitlement(req: EntitlementRequest, observe?: Observe): Promise<ProvisioningChange>;
  deactivateAccount(req: { taskId: string; accountId: string }, observe?: Observe): Promise<ProvisioningChange>;
  /** The person's account, if the target has one (active or not); changes nothing. */
  findAccount(req: AccountRequest): Promise<string | undefined>;
  /** Never throws: an unreachable target answers `ok: false`. */
  health(): Promise<ConnectorHealth>;
}

/** The target refused the request for a reason a retry cannot fix (bad data, bad token, missing group). */
export const CONNECTOR_REJECTED = 'ConnectorRejected';
/** The bundle or the secret store does not describe a usable connector for the app. */
export const CONNECTOR_MISCONFIGURED = 'ConnectorMisconfigured';

export function connectorRejected(message: string, details?: Record<string, unknown>): ApplicationFailure {
  return ApplicationFailure.create({ type: CONNECTOR_REJECTED, nonRetryable: true, message, details: details ? [details] : undefined });
}

export function connectorMisconfigured(message: string): ApplicationFailure {
  return ApplicationFailure.create({ type: CONNECTOR_MISCONFIGURED, nonRetryable: true, message });
}

export function change(kind: ProvisioningChangeKind, appId: string, fields: Omit<ProvisioningChange, 'kind' | 'appId' | 'at'> = {}): ProvisioningChange {
  const c: ProvisioningChange = { kind, appId, at: new Date().toISOString() };
  if (fields.accountId !== undefined) c.accountId = fields.accountId;
  if (fields.entitlementId !== undefined) c.entitlementId = fields.entitlementId;
  if (fields.detail !== undefined) c.detail = fields.detail;
  return c;
}
