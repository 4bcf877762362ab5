import { formatPath } from './zod-issues';

/**
 * How deep a request body may nest arrays and objects. No field of the contract needs more
 * than a handful of levels; tool args get room for real documents. Deeper bodies are refused
 * before anything recursive sees them: zod, `JSON.stringify` (fingerprints, error messages,
 * storage) and Lua's cjson (1000 levels) would each overflow or fail on 5,000 levels with a
 * 500, or a run that can be stored but never read back.
 */
export const MAX_BODY_DEPTH = 64;

/**
 * Keys that mean something to JavaScript's object model. `JSON.parse` keeps `__proto__` as an
 * own key, but zod's records and most object spreads drop or reinterpret it, so a label or an
 * argument would vanish silently (or, copied with `Object.assign` somewhere, set a prototype).
 * Refused anywhere in a body, naming the field, so the client learns instead of losing data.
 */
export const RESERVED_KEYS: ReadonlySet<string> = new Set(['__proto__', 'constructor', 'prototype']);

/** What is wrong with a parsed JSON body as a whole, and where. */
export interface BodyProblem {
  path: string;
  message: string;
}

/**
 * The first value nested deeper than `maxDepth`, or the first reserved key, anywhere in
 * `value` (path as `steps[0].args.a.b`); undefined when neither. Iterative, so it cannot
 * itself overflow the stack whatever the input.
 */
export function bodyProblem(value: unknown, maxDepth = MAX_BODY_DEPTH): BodyProblem | undefined {
  const stack: { v: unknown; path: PropertyKey[] }[] = [{ v: value, path: [] }];
  while (stack.length > 0) {
    const { v, path } = stack.pop()!;
    if (typeof v !== 'object' || v === null) continue;
    if (path.length >= maxDepth) return { path: formatPath(path), message: `nested deeper than ${maxDepth} levels` };
    if (Array.isArray(v)) {
      v.forEach((child, i) => stack.push({ v: child, path: [...path, i] }));
      continue;
    }
    // Object.keys lists an own `__proto__` (as JSON.parse makes it); `in` or v[k] would not.
    for (const k of Object.keys(v)) {
      if (RESERVED_KEYS.has(k)) return { path: formatPath([...path, k]), message: `"${k}" is a reserved key and not accepted` };
      stack.push({ v: (v as Record<string, unknown>)[k], path: [...path, k] });
    }
  }
  return undefined;
}
