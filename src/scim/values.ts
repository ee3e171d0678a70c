// Checks on attribute values as clients send them, and resource versions (ETag / If-Match). Pure.
import { invalidValue, preconditionFailed, ScimError } from './scim-error';

export const etag = (version: number) => `W/"${version}"`;

/** Checks an If-Match header against the resource's version; `*` matches any. */
export function checkIfMatch(header: string | undefined, version: number): void {
  if (!header) return;
  const current = etag(version);
  const tags = header.split(',').map((t) => t.trim());
  // A strong tag "3" is accepted for W/"3": weak comparison (RFC 9110 §8.8.3.2).
  if (tags.some((t) => t === '*' || t === current || `W/${t}` === current)) return;
  throw preconditionFailed(current);
}

/** A boolean as IdPs send it: true/false, or the strings "True"/"False" (Entra ID does). */
export function booleanValue(v: unknown, name: string): boolean | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v === 'boolean') return v;
  if (typeof v === 'string' && /^(true|false)$/i.test(v)) return v.toLowerCase() === 'true';
  throw invalidValue(`${name} must be a boolean.`);
}

export function optionalString(v: unknown, name: string, max = 1024): string | undefined {
  if (v === undefined || v === null || v === '') return undefined;
  if (typeof v !== 'string') throw invalidValue(`${name} must be a string.`);
  if (v.length > max) throw invalidValue(`${name} is longer than ${max} characters.`);
  return v;
}

export function requiredString(v: unknown, name: string, max = 256): string {
  const s = optionalString(v, name, max);
  if (!s || !s.trim()) throw invalidValue(`${name} is required.`);
  return s;
}

export function requireSchema(resource: unknown, schema: string): Record<string, unknown> {
  if (!resource || typeof resource !== 'object' || Array.isArray(resource)) throw new ScimError(400, 'The body must be a JSON object.', 'invalidSyntax');
  const r = resource as Record<string, unknown>;
  if (!Array.isArray(r.schemas) || !r.schemas.some((s) => typeof s === 'string' && s.toLowerCase() === schema.toLowerCase())) {
    throw new ScimError(400, `schemas must include ${schema}.`, 'invalidSyntax');
  }
  return r;
}

/** The object without the given keys. */
export function omit(o: Record<string, unknown>, keys: readonly string[]): Record<string, unknown> {
  return Object.fromEntries(Object.entries(o).filter(([k]) => !keys.includes(k)));
}

/** The object without undefined values. */
export function strip<T extends Record<string, unknown>>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
}
