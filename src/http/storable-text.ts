// PostgreSQL's text cannot hold U+0000, and its jsonb refuses an unpaired UTF-16 surrogate: a
// request carrying either (`\u0000` or a lone `\ud800` in JSON, `%00` in a URL) got past every
// schema and failed in the database with a 500, possibly after other work. Refused at the edge
// instead, as invalid input, in the surface's own error format (problem+json, or SCIM's error).
import { Injectable, type ArgumentMetadata, type PipeTransform } from '@nestjs/common';
import { Problem } from './problem';

/** Where in `value` (strings, arrays, plain objects; keys too) a string the database cannot store is, if anywhere. */
export function unstorableTextAt(value: unknown, path: (string | number)[] = []): (string | number)[] | undefined {
  if (typeof value === 'string') return storable(value) ? undefined : path;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const at = unstorableTextAt(value[i], path.concat(i));
      if (at) return at;
    }
    return undefined;
  }
  if (value && typeof value === 'object') {
    for (const [key, v] of Object.entries(value)) {
      if (!storable(key)) return path.concat(key);
      const at = unstorableTextAt(v, path.concat(key));
      if (at) return at;
    }
  }
  return undefined;
}

/** Refuses a request whose text the database cannot store (400 invalid_request, naming where). */
export function assertStorableText(value: unknown, where: string): void {
  const at = unstorableTextAt(value);
  if (at) {
    const path = [where, ...at].join('.');
    throw new Problem(400, 'invalid_request', `${path}: text must not contain U+0000 or an unpaired surrogate`, {
      errors: [{ path, message: 'text must not contain U+0000 or an unpaired surrogate' }],
    });
  }
}

/** Every route's body, query and path parameters (global: APP_PIPE). */
@Injectable()
export class StorableTextPipe implements PipeTransform {
  transform(value: unknown, meta: ArgumentMetadata): unknown {
    if (meta.type === 'body' || meta.type === 'query') assertStorableText(value, meta.data ? `${meta.type}.${meta.data}` : meta.type);
    else if (meta.type === 'param') assertStorableText(value, `path.${meta.data ?? ''}`);
    return value;
  }
}

function storable(s: string): boolean {
  return !s.includes('\u0000') && (s as string & { isWellFormed(): boolean }).isWellFormed();
}
