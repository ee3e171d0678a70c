// What every SCIM resource endpoint (/Users, /Groups, /Agents, /AgenticApplications) offers the controller.
import type { ListQuery, ScimResource } from './query';
import { preconditionFailed } from './scim-error';

export interface ScimEndpoint {
  /** The resource's core schema URN (fully qualified attribute names start with it). */
  readonly schema: string;
  list(q: ListQuery, base: string): Promise<{ total: number; resources: ScimResource[] }>;
  get(id: string, base: string): Promise<ScimResource>;
  create(body: unknown, base: string): Promise<ScimResource>;
  replace(id: string, body: unknown, ifMatch: string | undefined, base: string): Promise<ScimResource>;
  patch(id: string, body: unknown, ifMatch: string | undefined, base: string): Promise<ScimResource>;
  delete(id: string, ifMatch: string | undefined): Promise<void>;
}

/**
 * Runs a read-modify-write whose write is conditional on the version read (`undefined` when the
 * row moved on): with If-Match that is a 412; without, it is tried again on the fresh row.
 */
export async function optimistic<T>(ifMatch: string | undefined, attempt: () => Promise<T | undefined>, attempts = 3): Promise<T> {
  for (let i = 1; ; i++) {
    const done = await attempt();
    if (done !== undefined) return done;
    if (ifMatch || i >= attempts) throw preconditionFailed();
  }
}
