// What every surface refuses whatever its route's schema says, because deeper down it would fail
// with a 500, possibly after other work:
// * text PostgreSQL cannot store: its text cannot hold U+0000 and its jsonb refuses an unpaired
//   UTF-16 surrogate (`\u0000` or a lone `\ud800` in JSON, `%00` in a URL);
// * JSON nested deeper than MAX_DEPTH: a few thousand levels overflowed the stack of the schema
//   validators and of the trace's serializer.
// Refused at the edge instead, as invalid input, in the surface's own error format (problem+json,
// or SCIM's error), before anything is done.
import { Injectable, type ArgumentMetadata, type PipeTransform } from '@nestjs/common';
import { invalidRequest } from './validate';

/** Levels of arrays and objects a request may nest (a SCIM PATCH value path needs a handful). */
export const MAX_DEPTH = 32;

/** Where in `value` (strings, arrays, plain objects; keys too) input to refuse is, and why, if anywhere. */
export function refusedInputAt(value: unknown, path: (string | number)[] = []): { path: (string | number)[]; reason: string } | undefined {
  if (typeof value === 'string') return storable(value) ? undefined : { path, reason: UNSTORABLE };
  if (!value || typeof value !== 'object') return undefined;
  if (path.length >= MAX_DEPTH) return { path, reason: `nested deeper than ${MAX_DEPTH} levels` };
  const entries: [string | number, unknown][] = Array.isArray(value) ? value.map((v, i) => [i, v]) : Object.entries(value);
  for (const [key, v] of entries) {
    if (typeof key === 'string' && !storable(key)) return { path: path.concat(key), reason: UNSTORABLE };
    const found = refusedInputAt(v, path.concat(key));
    if (found) return found;
  }
  return undefined;
}

/** Refuses input found by refusedInputAt (400 invalid_request, naming where it is). */
export function assertAcceptableInput(value: unknown, where: string): void {
  const found = refusedInputAt(value);
  if (found) throw invalidRequest([{ path: [where, ...found.path].join('.'), message: found.reason }]);
}

/** Every route's body, query and path parameters (global: APP_PIPE). */
@Injectable()
export class InputLimitsPipe implements PipeTransform {
  transform(value: unknown, meta: ArgumentMetadata): unknown {
    if (meta.type === 'body' || meta.type === 'query') assertAcceptableInput(value, meta.data ? `${meta.type}.${meta.data}` : meta.type);
    else if (meta.type === 'param') assertAcceptableInput(value, `path.${meta.data ?? ''}`);
    return value;
  }
}

const UNSTORABLE = 'text must not contain U+0000 or an unpaired surrogate';

function storable(s: string): boolean {
  return !s.includes('\u0000') && (s as string & { isWellFormed(): boolean }).isWellFormed();
}
