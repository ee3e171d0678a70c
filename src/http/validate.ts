// Request bodies and queries are validated by a schema at the edge; past it, types are trusted.
import type { z } from 'zod';
import { Problem } from './problem';

export function validate<S extends z.ZodType>(schema: S, value: unknown, what = 'body'): z.infer<S> {
  const parsed = schema.safeParse(value);
  if (parsed.success) return parsed.data;
  throw invalidRequest(parsed.error.issues.map((i) => ({ path: [what, ...i.path].join('.'), message: i.message })));
}

/** The 400 for input refused at the edge: each error's path (`body.a.b`) and why, in the detail too. */
export function invalidRequest(errors: { path: string; message: string }[]): Problem {
  return new Problem(400, 'invalid_request', errors.map((e) => `${e.path}: ${e.message}`).join('; '), { errors });
}
