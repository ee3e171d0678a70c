// Signed HR events: a leaver is offboarded, a mover's directory entry changes and their live
// grants are decided again. Verified over the raw body before anything happens; processed once
// per webhook-id.
import type { SqlClient } from '../db/sql';
import { Problem } from '../http/problem';
import { assertAcceptableInput } from '../http/input-limits';
import { validate } from '../http/validate';
import type { IdentityService } from '../identity/identity.service';
import type { ScimResource } from '../scim/query';
import { ScimError } from '../scim/scim-error';
import { ENTERPRISE_USER } from '../scim/schemas';
import { HrEventStore } from './hr-event-store';
import { hrEvent, type EmployeeUpdated, type HrEvent } from './hr-events';
import { HrSignatureError, HrSignatureVerifier, type Headers } from './hr-signature';

export class HrService {
  private readonly verifier: HrSignatureVerifier;
  private readonly store: HrEventStore;

  constructor(
    db: SqlClient,
    secrets: string[],
    private readonly identity: IdentityService,
  ) {
    this.verifier = new HrSignatureVerifier(secrets);
    this.store = new HrEventStore(db);
  }

  async receive(rawBody: string, headers: Headers): Promise<Record<string, unknown>> {
    let payload: unknown;
    try {
      payload = this.verifier.verify(rawBody, headers);
    } catch (err) {
      if (err instanceof HrSignatureError) throw new Problem(401, 'invalid_signature', `The webhook signature does not verify: ${err.message}.`);
      throw new Problem(400, 'malformed_request', 'The body is not JSON.');
    }
    assertAcceptableInput(payload, 'body');
    const event = validate(hrEvent, payload);
    const webhookId = String(headers['webhook-id']);
    const seen = await this.store.claim(webhookId, event.type);
    if (seen.response) return seen.response;
    const response = await this.process(webhookId, event).catch((err: unknown) => {
      // The directory refused the change (the same checks as SCIM): problem+json on this surface.
      if (err instanceof ScimError) throw new Problem(err.status === 400 ? 422 : err.status, err.scimType ?? 'directory_conflict', err.detail);
      throw err;
    });
    await this.store.answer(webhookId, response);
    return response;
  }

  private async process(webhookId: string, event: HrEvent): Promise<Record<string, unknown>> {
    const userId = await this.identity.resolve(event.data);
    if (event.type === 'employee.offboarded') return this.identity.offboard(userId, { trigger: 'hr', eventId: webhookId });
    const changed = await this.identity.updatePerson(userId, {
      change: (current) => applyHrChange(current, event.data),
      groups: event.data.groups,
      eventId: webhookId,
      source: 'hr',
      base: '/scim/v2',
    });
    return {
      userId,
      ...(changed.offboardingId ? { offboardingId: changed.offboardingId } : {}),
      ...(changed.revoked ? { revoked: changed.revoked.map(({ taskId, toolId }) => ({ taskId, toolId })) } : {}),
    };
  }
}

/** The person's SCIM resource with what HR changed (null clears an attribute). */
export function applyHrChange(current: ScimResource, data: EmployeeUpdated): Record<string, unknown> {
  const next: Record<string, unknown> = structuredClone(current);
  const enterprise = { ...((next[ENTERPRISE_USER] as Record<string, unknown> | undefined) ?? {}) };
  if (data.title !== undefined) next.title = data.title;
  if (data.userType !== undefined) next.userType = data.userType;
  if (data.department !== undefined) enterprise.department = data.department;
  if (data.manager !== undefined) enterprise.manager = data.manager === null ? null : { value: data.manager };
  next[ENTERPRISE_USER] = enterprise;
  return next;
}
