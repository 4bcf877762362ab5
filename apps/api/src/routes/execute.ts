import { Router } from 'express';
import {
  EXECUTE_ACTIONS,
  ExecuteRequestSchemas,
  ValidationError,
  parseOrThrow,
  type CreateRunRequest,
} from '@agentyard/core';
import { toRunView } from '@agentyard/runs';
import { authOf } from '../http/auth';
import type { RunCommands } from '../run-commands';
import type { ApiMetrics } from '@agentyard/observability';
import { checkArgsSize } from '../http/edge';

const IDEMPOTENCY_KEY = /^[\x21-\x7e]{1,255}$/;

/** `POST /agent/execute`: one route, the action in the body decides what happens. */
export function executeRouter(commands: RunCommands, metrics: ApiMetrics, limits: { stepArgsBytes: number }): Router {
  const r = Router();
  r.post('/agent/execute', async (req, res) => {
    const principal = authOf(res);
    const { tenant } = principal;
    const body: unknown = req.body;
    if (typeof body !== 'object' || body === null || Array.isArray(body)) {
      throw ValidationError.field('body', 'expected a JSON object (Content-Type: application/json)');
    }
    // Depth and reserved keys were checked by bodyGuard before any route saw the body.
    const action = (body as { action?: unknown }).action;
    if (action === undefined) throw ValidationError.field('action', `required: one of ${EXECUTE_ACTIONS.join(', ')}`);
    if (typeof action !== 'string' || !(EXECUTE_ACTIONS as readonly string[]).includes(action)) {
      // Only a string is quoted back: echoing any other value could be a megabyte of JSON.
      const got = typeof action === 'string' ? JSON.stringify(action.slice(0, 100)) : `of type ${Array.isArray(action) ? 'array' : action === null ? 'null' : typeof action}`;
      throw ValidationError.field('action', `unknown action ${got}; expected one of ${EXECUTE_ACTIONS.join(', ')}`);
    }
    const a = action as (typeof EXECUTE_ACTIONS)[number];
    switch (a) {
      case 'create': {
        const key = req.get('idempotency-key');
        if (key !== undefined && !IDEMPOTENCY_KEY.test(key)) {
          throw ValidationError.field('Idempotency-Key', 'must be 1-255 printable ASCII characters');
        }
        const parsed = parseOrThrow(ExecuteRequestSchemas.create, body) as CreateRunRequest;
        parsed.steps?.forEach((s, i) => checkArgsSize(s.args, limits.stepArgsBytes, `steps[${i}].args`));
        const { run, changed } = await commands.create(tenant, parsed, key);
        if (changed) metrics.runsCreated.inc();
        res.status(changed ? 201 : 200).json({ run_id: run.doc.id, status: run.status, run: toRunView(run) });
        return;
      }
      case 'start': {
        const p = parseOrThrow(ExecuteRequestSchemas.start, body);
        const { runId, status, changed } = await commands.start(tenant, p.run_id);
        res.status(changed ? 202 : 200).json({ run_id: runId, status });
        return;
      }
      case 'cancel': {
        const p = parseOrThrow(ExecuteRequestSchemas.cancel, body);
        const { run } = await commands.cancel(principal, p);
        res.status(202).json({ run_id: run.doc.id, status: run.status });
        return;
      }
      case 'retry': {
        const p = parseOrThrow(ExecuteRequestSchemas.retry, body);
        const { run } = await commands.retry(principal, p.run_id);
        res.status(202).json({ run_id: run.doc.id, status: run.status });
        return;
      }
      case 'approve':
      case 'reject': {
        const p = parseOrThrow(ExecuteRequestSchemas[a], body);
        const { run } = await commands.decide(principal, { ...p, action: a });
        res.status(202).json({ run_id: run.doc.id, status: run.status, step_id: p.step_id, decision: a === 'approve' ? 'approved' : 'rejected' });
        return;
      }
    }
  });
  return r;
}
