// Canonical digests: the same value hashes the same whatever its key order (RFC 8785 JSON).
import { createHash } from 'node:crypto';
import canonicalize from 'canonicalize';

export function canonicalJson(value: unknown): string {
  return canonicalize(value ?? null) ?? 'null';
}

/** `sha256:<hex>` of the canonical JSON of a value (tool arguments, a call, a bundle). */
export function argsDigest(value: unknown): string {
  return `sha256:${createHash('sha256').update(canonicalJson(value)).digest('hex')}`;
}
