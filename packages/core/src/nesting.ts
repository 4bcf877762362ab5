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
 * The path (`steps[0].args.a.b`) of the first value nested deeper than `maxDepth`, or
 * undefined. Iterative, so it cannot itself overflow the stack whatever the input.
 */
export function tooDeepAt(value: unknown, maxDepth = MAX_BODY_DEPTH): string | undefined {
  const stack: { v: unknown; path: PropertyKey[] }[] = [{ v: value, path: [] }];
  while (stack.length > 0) {
    const { v, path } = stack.pop()!;
    if (typeof v !== 'object' || v === null) continue;
    if (path.length >= maxDepth) return formatPath(path);
    if (Array.isArray(v)) v.forEach((child, i) => stack.push({ v: child, path: [...path, i] }));
    else for (const [k, child] of Object.entries(v)) stack.push({ v: child, path: [...path, k] });
  }
  return undefined;
}
