// A SCIM 2.0 client (RFC 7644) as a connector: an account is a User (externalId = our person id),
// an entitlement is membership of the Group whose displayName is the entitlement's `group`.
import type { App, Entitlement } from '../../src/policy/bundle';
import type { SecretStore } from '../../src/vault/secret-store';
import { cancellationSignal, heartbeat } from './activity-context';
import {
  change,
  connectorMisconfigured,
  connectorRejected,
  type AccountRequest,
  type Connector,
  type ConnectorHealth,
  type EntitlementRequest,
  type Observe,
  type ProvisioningChange,
} from './connector';

const SCIM_JSON = 'application/scim+json';
const USER_SCHEMA = 'urn:ietf:params:scim:schemas:core:2.0:User';
const PATCH_OP = 'urn:ietf:params:scim:api:messages:2.0:PatchOp';
const USER_ATTRIBUTES = 'id,userName,externalId,active';
const GROUP_ATTRIBUTES = 'id,displayName,members';
const DEFAULT_REQUEST_TIMEOUT_MS = 15_000;

/** What the secret store holds under the app's `connector.secretRef`. */
export interface ScimConnection {
  baseUrl: string;
  token: string;
}

export interface ScimConnectorOptions {
  fetch?: typeof fetch;
  /** Per HTTP request; below the provisioning profile's heartbeat timeout. */
  requestTimeoutMs?: number;
}

interface ScimUser {
  id: string;
  userName?: string;
  externalId?: string;
  active?: boolean;
}

interface ScimGroup {
  id: string;
  displayName?: string;
  members?: { value: string }[];
}

interface ScimError {
  status?: string | number;
  scimType?: string;
  detail?: string;
}

interface ScimResponse<T> {
  status: number;
  body: T | undefined;
}

/** Connection details come from the secret store, never from the bundle. */
export async function scimConnection(app: App, secrets: SecretStore): Promise<ScimConnection> {
  const ref = app.connector.secretRef;
  if (!ref) throw connectorMisconfigured(`App ${app.id} has a SCIM connector without a secretRef.`);
  const secret = await secrets.get(ref);
  if (!secret) throw connectorMisconfigured(`App ${app.id}: the secret store has nothing under "${ref}".`);
  const { baseUrl, token } = secret;
  if (typeof baseUrl !== 'string' || !/^https?:\/\//.test(baseUrl) || typeof token !== 'string' || !token) {
    throw connectorMisconfigured(`App ${app.id}: the secret "${ref}" must hold { baseUrl: an http(s) URL, token: a non-empty string }.`);
  }
  return { baseUrl: baseUrl.replace(/\/+$/, ''), token };
}

/** A SCIM filter string literal (RFC 7644 §3.4.2.2: JSON string rules). */
const literal = (value: string) => JSON.stringify(value);
const patchOp = (...Operations: Record<string, unknown>[]) => ({ schemas: [PATCH_OP], Operations });
const isMember = (group: ScimGroup, accountId: string) => (group.members ?? []).some((m) => m.value === accountId);

export class ScimConnector implements Connector {
  readonly observesBeforeChange = true;
  private readonly http: ScimHttp;

  constructor(
    private readonly app: App,
    connection: ScimConnection,
    options: ScimConnectorOptions = {},
  ) {
    this.http = new ScimHttp(app.id, connection, options.fetch ?? fetch, options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS);
  }

  async ensureAccount({ person }: AccountRequest, observe?: Observe): Promise<{ accountId: string; change: ProvisioningChange }> {
    const found = await this.findUser(person.userName, person.id);
    await observe?.(found !== undefined && found.active !== false, found?.id);
    if (found) return { accountId: found.id, change: await this.activate(found) };

    const [givenName, ...rest] = (person.displayName ?? person.userName).trim().split(/\s+/);
    const res = await this.http.request<ScimUser>('POST', '/Users', {
      body: {
        schemas: [USER_SCHEMA],
        userName: person.userName,
        externalId: person.id,
        displayName: person.displayName ?? person.userName,
        name: { formatted: person.displayName ?? person.userName, givenName, familyName: rest.length ? rest.join(' ') : undefined },
        emails: person.email ? [{ value: person.email, type: 'work', primary: true }] : undefined,
        active: true,
      },
      tolerate: [409],
    });
    if (res.status === 409) {
      // Created meanwhile (a concurrent attempt or task), or our search missed it: use the one that exists.
      const existing = await this.findUser(person.userName, person.id);
      if (!existing) throw new Error(`${this.app.id}: SCIM POST /Users answered 409 but no user "${person.userName}" can be found`);
      return { accountId: existing.id, change: await this.activate(existing, 'create answered 409 uniqueness: existing account used') };
    }
    if (!res.body?.id) throw new Error(`${this.app.id}: SCIM POST /Users answered ${res.status} without a user id`);
    return { accountId: res.body.id, change: change('account_created', this.app.id, { accountId: res.body.id }) };
  }

  async grantEntitlement(req: EntitlementRequest, observe?: Observe): Promise<ProvisioningChange> {
    const name = this.groupName(req.entitlement);
    const group = await this.findGroup(name);
    if (!group) throw connectorRejected(`${this.app.id}: group "${name}" (entitlement ${req.entitlement.id}) does not exist in the target app`);
    const fields = { accountId: req.accountId, entitlementId: req.entitlement.id };
    const present = isMember(group, req.accountId);
    await observe?.(present, req.accountId);
    if (present) return change('entitlement_already_present', this.app.id, { ...fields, detail: `already a member of group "${name}"` });
    await this.http.request('PATCH', `/Groups/${encodeURIComponent(group.id)}`, {
      body: patchOp({ op: 'add', path: 'members', value: [{ value: req.accountId }] }),
    });
    return change('entitlement_granted', this.app.id, { ...fields, detail: `added to group "${name}"` });
  }

  async revokeEntitlement(req: EntitlementRequest, observe?: Observe): Promise<ProvisioningChange> {
    const name = this.groupName(req.entitlement);
    const fields = { accountId: req.accountId, entitlementId: req.entitlement.id };
    const absent = (detail: string) => change('entitlement_already_absent', this.app.id, { ...fields, detail });
    const group = await this.findGroup(name);
    if (!group) return absent(`group "${name}" no longer exists`);
    if (!isMember(group, req.accountId)) return absent(`not a member of group "${name}"`);
    await observe?.(true, req.accountId);
    const path = `/Groups/${encodeURIComponent(group.id)}`;
    const res = await this.http.request<ScimError>('PATCH', path, {
      body: patchOp({ op: 'remove', path: `members[value eq ${literal(req.accountId)}]` }),
      tolerate: [400, 404],
    });
    // Gone between our read and the PATCH: what revoking wants is already true.
    if (res.status === 404) return absent(`the target answered 404 removing the member from group "${name}"`);
    if (res.status === 400) {
      if (res.body?.scimType !== 'noTarget') throw this.http.failure('PATCH', path, res);
      return absent(`the target found no such member in group "${name}" (noTarget)`);
    }
    return change('entitlement_revoked', this.app.id, { ...fields, detail: `removed from group "${name}"` });
  }

  async deactivateAccount({ accountId }: { taskId: string; accountId: string }, observe?: Observe): Promise<ProvisioningChange> {
    const path = `/Users/${encodeURIComponent(accountId)}`;
    const inactive = (detail?: string) => change('account_already_inactive', this.app.id, { accountId, detail });
    const read = await this.http.request<ScimUser>('GET', `${path}?attributes=${USER_ATTRIBUTES}`, { tolerate: [404] });
    if (read.status === 404) return inactive('the account no longer exists');
    if (read.body?.active === false) return inactive();
    await observe?.(true, accountId);
    const res = await this.http.request('PATCH', path, { body: patchOp({ op: 'replace', path: 'active', value: false }), tolerate: [404] });
    if (res.status === 404) return inactive('the account no longer exists');
    return change('account_deactivated', this.app.id, { accountId });
  }

  async findAccount({ person }: AccountRequest): Promise<string | undefined> {
    return (await this.findUser(person.userName, person.id))?.id;
  }

  async health(): Promise<ConnectorHealth> {
    const started = performance.now();
    try {
      await this.http.request('GET', '/ServiceProviderConfig');
      return { ok: true, latencyMs: performance.now() - started };
    } catch (err) {
      return { ok: false, latencyMs: performance.now() - started, detail: err instanceof Error ? err.message : String(err) };
    }
  }

  /** userName first (unique in every SCIM server), then our person id as externalId (survives renames). */
  private async findUser(userName: string, personId: string): Promise<ScimUser | undefined> {
    const [byName] = await this.http.list<ScimUser>('/Users', `userName eq ${literal(userName)}`, USER_ATTRIBUTES);
    if (byName) return byName;
    const [byExternalId] = await this.http.list<ScimUser>('/Users', `externalId eq ${literal(personId)}`, USER_ATTRIBUTES);
    return byExternalId;
  }

  private async findGroup(displayName: string): Promise<ScimGroup | undefined> {
    const groups = await this.http.list<ScimGroup>('/Groups', `displayName eq ${literal(displayName)}`, GROUP_ATTRIBUTES);
    if (groups.length > 1) throw connectorRejected(`${this.app.id}: ${groups.length} groups are named "${displayName}"; refusing to guess which one`);
    return groups[0];
  }

  /** An account found inactive (e.g. deactivated when an earlier task ended) is reactivated: that is a change to undo. */
  private async activate(user: ScimUser, detail?: string): Promise<ProvisioningChange> {
    if (user.active !== false) return change('account_found', this.app.id, { accountId: user.id, detail });
    await this.http.request('PATCH', `/Users/${encodeURIComponent(user.id)}`, { body: patchOp({ op: 'replace', path: 'active', value: true }) });
    return change('account_created', this.app.id, { accountId: user.id, detail: 'reactivated an inactive account' });
  }

  private groupName(entitlement: Entitlement): string {
    if (!entitlement.group) throw connectorMisconfigured(`App ${this.app.id}: entitlement ${entitlement.id} names no SCIM group.`);
    return entitlement.group;
  }
}

/**
 * HTTP to one SCIM server. A 408, 429, 5xx or network failure throws a plain Error (the activity's
 * retry policy retries); any other 4xx not tolerated by the caller is a non-retryable ConnectorRejected.
 */
class ScimHttp {
  constructor(
    private readonly appId: string,
    private readonly connection: ScimConnection,
    private readonly fetchImpl: typeof fetch,
    private readonly timeoutMs: number,
  ) {}

  async list<T>(path: string, filter: string, attributes: string): Promise<T[]> {
    const query = new URLSearchParams({ filter, attributes });
    const res = await this.request<{ Resources?: T[] }>('GET', `${path}?${query}`);
    return res.body?.Resources ?? [];
  }

  async request<T = unknown>(method: string, pathAndQuery: string, opts: { body?: unknown; tolerate?: number[] } = {}): Promise<ScimResponse<T>> {
    heartbeat();
    const path = pathAndQuery.split('?')[0];
    const cancelled = cancellationSignal();
    const timeout = AbortSignal.timeout(this.timeoutMs);
    let res: Response;
    try {
      res = await this.fetchImpl(`${this.connection.baseUrl}${pathAndQuery}`, {
        method,
        headers: {
          authorization: `Bearer ${this.connection.token}`,
          accept: SCIM_JSON,
          ...(opts.body === undefined ? {} : { 'content-type': SCIM_JSON }),
        },
        body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
        // A SCIM API does not redirect; following one would carry the bearer token elsewhere.
        redirect: 'manual',
        signal: cancelled ? AbortSignal.any([cancelled, timeout]) : timeout,
      });
    } catch (err) {
      if (cancelled?.aborted) throw err;
      throw new Error(`${this.appId}: SCIM ${method} ${path} failed: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
    }
    const text = await res.text();
    let body: T | undefined;
    try {
      body = text ? (JSON.parse(text) as T) : undefined;
    } catch {
      if (res.ok) throw new Error(`${this.appId}: SCIM ${method} ${path} answered ${res.status} with a body that is not JSON`);
    }
    const response = { status: res.status, body };
    if (res.ok || opts.tolerate?.includes(res.status)) return response;
    throw this.failure(method, path, response, res.headers.get('retry-after'));
  }

  failure(method: string, path: string, res: ScimResponse<unknown>, retryAfter?: string | null): Error {
    const err = (res.body ?? {}) as ScimError;
    const detail = typeof err.detail === 'string' ? err.detail.slice(0, 300) : undefined;
    const message = `${this.appId}: SCIM ${method} ${path} answered ${res.status}${err.scimType ? ` ${err.scimType}` : ''}${detail ? `: ${detail}` : ''}`;
    if (res.status === 408 || res.status === 429 || res.status >= 500) return new Error(retryAfter ? `${message} (retry after ${retryAfter})` : message);
    return connectorRejected(message, { status: res.status, scimType: err.scimType, detail });
  }
}
