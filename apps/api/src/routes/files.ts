import { Router } from 'express';
import { FilesQuery, parseOrThrow } from '@agentyard/core';
import { normaliseListPrefix, normalisePath, scopeWorkspace, workspaceRoot } from '@agentyard/workspace';
import type { ApiDeps } from '../deps';
import { authOf } from '../http/auth';
import { runIdParam } from '../http/run-id';

const TYPES: Record<string, string> = {
  txt: 'text/plain; charset=utf-8',
  md: 'text/markdown; charset=utf-8',
  json: 'application/json',
  jsonl: 'application/x-ndjson',
  csv: 'text/csv; charset=utf-8',
  html: 'text/plain; charset=utf-8', // never rendered as HTML from our origin
  log: 'text/plain; charset=utf-8',
};

export function filesRouter(deps: ApiDeps): Router {
  const r = Router();
  // A run's files outlive its Redis record: an archived run's listing names its workspace.
  const runWorkspace = async (tenant: string, rawId: string | string[] | undefined) => {
    const runId = runIdParam(rawId);
    const found = await deps.reader.locate(tenant, runId);
    return { runId, workspaceId: found.workspace_id, ws: scopeWorkspace(deps.workspace, workspaceRoot(tenant, found.workspace_id)) };
  };

  r.get('/agent/runs/:run_id/files', async (req, res) => {
    const runId = runIdParam(req.params.run_id);
    const q = parseOrThrow(FilesQuery, req.query);
    const prefix = normaliseListPrefix(q.prefix, 'prefix');
    // The cursor is the last path of the previous page, so it follows the path rules too.
    const cursor = q.cursor === undefined ? undefined : normalisePath(q.cursor, 'cursor');
    const { workspaceId, ws } = await runWorkspace(authOf(res).tenant, runId);
    const page = await ws.list(prefix, { limit: q.limit, ...(cursor ? { cursor } : {}) });
    res.json({ run_id: runId, workspace_id: workspaceId, ...page });
  });

  r.get('/agent/runs/:run_id/files/*path', async (req, res) => {
    const { ws } = await runWorkspace(authOf(res).tenant, req.params.run_id);
    const raw = (req.params as unknown as { path: string[] | string }).path;
    const path = normalisePath(Array.isArray(raw) ? raw.join('/') : raw, 'path');
    const body = await ws.read(path);
    const ext = path.includes('.') ? path.slice(path.lastIndexOf('.') + 1).toLowerCase() : '';
    res.set('Content-Type', TYPES[ext] ?? 'application/octet-stream');
    res.set('X-Content-Type-Options', 'nosniff');
    res.send(body);
  });
  return r;
}
