import { NotFoundError, RUN_ID_PATTERN } from '@agentyard/core';

/**
 * The `:run_id` of a route, checked before it goes near Redis. Anything that is not a run id
 * names no run, so it is the same 404 as an unknown run for every tenant. Unchecked,
 * `run_<id>:events` would address another key of a real run: a WRONGTYPE 500 for the
 * owner and for any other tenant alike, which told them the run exists.
 */
export function runIdParam(raw: string | string[] | undefined): string {
  const id = typeof raw === 'string' ? raw : '';
  if (!RUN_ID_PATTERN.test(id)) throw new NotFoundError('run', id.slice(0, 100));
  return id;
}
