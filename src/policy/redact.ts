// Sensitive tool arguments (`x-sensitive: true` in the tool's JSON Schema) never leave as values:
// approval cards and the Decision Trace get a marker instead.
export const REDACTED = '••••';

type Schema = { properties?: Record<string, Schema>; items?: Schema; 'x-sensitive'?: unknown };

/** A copy of the arguments with every property the schema marks `x-sensitive: true` replaced by ••••. */
export function redactArguments(value: unknown, schema: Schema | undefined): unknown {
  if (schema?.['x-sensitive'] === true) return REDACTED;
  if (Array.isArray(value)) return value.map((v) => redactArguments(v, schema?.items));
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, redactArguments(v, schema?.properties?.[k])]));
  }
  return value;
}

/** True when a redacted copy hides something (a replay of rules over it cannot be exact). */
export function hasRedacted(value: unknown): boolean {
  if (value === REDACTED) return true;
  if (Array.isArray(value)) return value.some(hasRedacted);
  if (value && typeof value === 'object') return Object.values(value).some(hasRedacted);
  return false;
}
