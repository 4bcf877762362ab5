import type { z } from 'zod';
import { ValidationError, type ErrorDetail } from './errors';

/** `['steps', 0, 'args', 'path']` → `steps[0].args.path`, the way clients write it. */
export function formatPath(path: ReadonlyArray<PropertyKey>, base = ''): string {
  let out = base;
  for (const seg of path) {
    if (typeof seg === 'number') out += `[${seg}]`;
    else out += out === '' ? String(seg) : `.${String(seg)}`;
  }
  return out === '' ? 'body' : out;
}

export function issuesToDetails(issues: readonly z.core.$ZodIssue[], base = ''): ErrorDetail[] {
  return issues.map((i) => {
    const path = [...i.path];
    // An unrecognised key is reported on its parent; name the key itself.
    if (i.code === 'unrecognized_keys' && i.keys.length > 0) {
      return { path: formatPath([...path, i.keys[0]!], base), message: `unknown field (${i.keys.join(', ')})` };
    }
    return { path: formatPath(path, base), message: i.message };
  });
}

/** Parse or throw a 400 whose message and details name every offending field. */
export function parseOrThrow<S extends z.ZodType>(schema: S, input: unknown, base = ''): z.infer<S> {
  const r = schema.safeParse(input);
  if (r.success) return r.data;
  const details = issuesToDetails(r.error.issues, base);
  const first = details[0]!;
  const more = details.length > 1 ? ` (and ${details.length - 1} more)` : '';
  throw new ValidationError(`${first.path}: ${first.message}${more}`, details);
}
